"""The rush benchmark: ``python -m bench.rush`` (``make bench``); see docs/performance.md.

Modules, in the order a run uses them:
- ``environment``: a fresh benchmark database, generated secrets, app processes started as
  ``pserve production.ini http_port=...`` (as deploy/ticketing@.service does), CPU accounting;
- ``nginx``: Debian's nginx running deploy/nginx.conf in front of them;
- ``prepare``: the untimed set-up (stadium, published 5,000-seat matches, funded customers);
- ``loadgen``: the multi-step scenarios (hold -> checkout, chosen seats, mixed) on
  ``http_client``, a keep-alive HTTP/1.1 client on a bare asyncio Protocol;
- ``wrk``: single-request scenarios (the seat map with and without ``If-None-Match``);
- ``pgbench``: the database's own ceiling for the same claim-and-sell SQL (``hot_path.sql``);
- ``checks``: the product invariants in SQL after every scenario;
- ``report``: ``results/latest.json`` -> ``docs/performance.md`` and the SVG charts;
- ``ab``: two configurations side by side in the same sell-out (``python -m bench.ab``).
"""
