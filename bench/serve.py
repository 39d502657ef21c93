"""Serve the app exactly as ``pserve production.ini`` would, on a port chosen by the benchmark.

``pserve`` has no way to override ``[server:main] listen``, so this loads the same ini with
plaster (logging, app settings, pool) and hands its ``[server:main]`` options (threads,
connection limit, ...) unchanged to waitress; only ``listen`` becomes 127.0.0.1:<port>.

``--set key=value`` overrides one app setting. The benchmark uses it for one thing only:
the per-IP request limits (``ratelimit.*_per_ip``), because all of its thousands of fans
come from 127.0.0.1, where in a real rush they come from thousands of addresses. The
per-user limits stay on, so their cost is measured.

``--server-set key=value`` overrides one ``[server:main]`` option: behind nginx the
benchmark sets waitress's ``trusted_proxy`` and ``trusted_proxy_headers`` as
deploy/README.md tells an operator to.
"""
import os
import argparse

import plaster

from ticketing.server import serve


def server_options(loader, port, overrides=()):
    options = dict(loader.get_settings("server:main"))
    options.pop("use", None)
    options.update(item.split("=", 1) for item in overrides)
    options["listen"] = f"127.0.0.1:{port}"
    return options


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("ini")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--server-set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    loader = plaster.get_loader(args.ini, protocols=["wsgi"])
    loader.setup_logging()
    if args.set:
        import ticketing

        settings = dict(loader.get_settings("app:main"))
        settings.update(item.split("=", 1) for item in args.set)
        ini = os.path.abspath(args.ini)
        app = ticketing.main({"__file__": ini, "here": os.path.dirname(ini)}, **settings)
    else:
        app = loader.get_wsgi_app()
    serve(app, **server_options(loader, args.port, args.server_set))


if __name__ == "__main__":
    main()
