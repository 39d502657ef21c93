"""Serve the app exactly as ``pserve production.ini`` would, on a port chosen by the benchmark.

``pserve`` has no way to override ``[server:main] listen``, so this loads the same ini with
plaster (logging, app settings, pool) and hands its ``[server:main]`` options (threads,
connection limit, ...) unchanged to waitress; only ``listen`` becomes 127.0.0.1:<port>.
"""
import argparse

import plaster
import waitress


def server_options(loader, port):
    options = dict(loader.get_settings("server:main"))
    options.pop("use", None)
    options["listen"] = f"127.0.0.1:{port}"
    return options


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("ini")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    loader = plaster.get_loader(args.ini, protocols=["wsgi"])
    loader.setup_logging()
    app = loader.get_wsgi_app()
    waitress.serve(app, **server_options(loader, args.port))


if __name__ == "__main__":
    main()
