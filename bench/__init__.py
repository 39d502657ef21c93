"""The rush benchmark: ``python -m bench.rush`` (``make bench``); see docs/performance.md.

Modules, in the order a run uses them:
- ``environment``: a fresh benchmark database, generated secrets, the app and the bare
  Pyramid view started under waitress from ``production.ini``, CPU accounting;
- ``prepare``: the untimed set-up (stadium, published 5,000-seat matches, funded customers);
- ``loadgen``: the multi-step scenarios (hold -> checkout, chosen seats, mixed) on
  ``http_client``, a keep-alive HTTP/1.1 client on a bare asyncio Protocol;
- ``wrk``: single-request scenarios (seat map with and without ``If-None-Match``, bare view);
- ``pgbench``: the database's own ceiling for the same claim-and-sell SQL (``hot_path.sql``);
- ``checks``: the product invariants in SQL after every scenario;
- ``report``: ``results/latest.json`` -> ``docs/performance.md`` and the SVG charts.
"""
