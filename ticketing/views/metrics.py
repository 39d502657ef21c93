"""``GET /metrics``: the Prometheus exposition of ticketing/metrics.py.

Public as far as the app is concerned, like ``/healthz``: the app processes listen on
127.0.0.1 only, and the nginx site (deploy/nginx.conf) answers ``/metrics`` only to the
addresses ops list there (the Prometheus server), so fans never see it.
"""
from pyramid.httpexceptions import HTTPNotFound
from pyramid.response import Response
from pyramid.view import view_config

from ticketing import metrics
from ticketing.resources import Root


@view_config(route_name="metrics", context=Root, permission="public", request_method="GET")
def metrics_view(context, request):
    if not request.registry.settings.get("metrics.enabled", True):
        raise HTTPNotFound()
    body, content_type = metrics.render(request.registry.get("metrics_sale_collector"))
    response = Response(body=body, headerlist=[("Content-Type", content_type), ("Cache-Control", "no-store")])
    return response
