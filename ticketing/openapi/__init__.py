"""The OpenAPI document is the API contract: requests are validated against it.

``openapi.yaml`` lives beside this module; pyramid_openapi3 loads it, checks that every path
has a route and validates each ``openapi=True`` view's request (and, in development and
tests, its response).
"""
import json
import os

import yaml

from ticketing.views.api.field_checks import with_service_checks

from .validation import CompiledSpec, openapi_validated

SPEC_PATH = os.path.join(os.path.dirname(__file__), "openapi.yaml")


def includeme(config):
    config.include("pyramid_openapi3")
    # Error bodies are JSON too; openapi-core must parse them to validate responses.
    config.pyramid_openapi3_add_deserializer("application/problem+json", json.loads)
    config.pyramid_openapi3_spec(SPEC_PATH, route="/api/v1/openapi.yaml", route_name="api.openapi_yaml")
    with open(SPEC_PATH, encoding="utf-8") as spec_file:
        config.registry["openapi_spec_dict"] = yaml.safe_load(spec_file)
    # Requests are validated by validators compiled once from the same document (see
    # validation.py for why); this overrides pyramid_openapi3's per-request openapi-core path.
    config.registry["compiled_openapi"] = CompiledSpec(config.registry["openapi_spec_dict"], with_service_checks)
    config.add_request_method(openapi_validated, name="openapi_validated", reify=True)
