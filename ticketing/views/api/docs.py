"""The API contract, served: the OpenAPI document as JSON and YAML, and Swagger UI.

Swagger UI's files come from the ``swagger-ui-bundle`` wheel and are served by the app itself
(nothing outside the machine is reachable, and a box office should not depend on a CDN).
"""
import json

from pyramid.response import Response
from pyramid.view import view_config

from ticketing.resources import Root


@view_config(route_name="api.openapi_json", context=Root, permission="public", request_method="GET")
def openapi_json(context, request):
    spec = request.registry["openapi_spec_dict"]
    response = Response(
        body=request.registry.setdefault("openapi_spec_json", json.dumps(spec).encode("utf-8")),
        content_type="application/json",
        charset=None,
    )
    response.cache_control.max_age = 300
    return response


@view_config(
    route_name="api.docs",
    context=Root,
    permission="public",
    request_method="GET",
    renderer="api/explorer.jinja2",
)
def explorer(context, request):
    return {"spec_url": request.route_path("api.openapi_json")}
