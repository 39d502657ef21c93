"""The trivial ceiling: a bare Pyramid JSON view under the same waitress settings.

No database, no security policy, no tweens but Pyramid's defaults: what one waitress
process on this machine can serve at best (the same server as the app's, ticketing/server.py). The seat map's 304 path is compared with it.
"""
import argparse

import plaster
from pyramid.config import Configurator

from bench.serve import server_options
from ticketing.server import serve


def hello(request):
    return {"status": "ok", "service": "bare"}


def make_app():
    with Configurator() as config:
        config.add_route("hello", "/")
        config.add_view(hello, route_name="hello", renderer="json")
    return config.make_wsgi_app()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("ini", help="the ini whose [server:main] waitress options to use")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    loader = plaster.get_loader(args.ini, protocols=["wsgi"])
    serve(make_app(), **server_options(loader, args.port))


if __name__ == "__main__":
    main()
