"""The served OpenAPI document is a contract clients can generate code from, and stays one.

- ``openapi-spec-validator`` and Redocly's ``recommended`` ruleset (``@redocly/cli``, pinned
  in package.json beside this file) find nothing in it: no error and no warning;
- the house rules Redocly does not know (issue 28): one operationId style, a description and
  an example for every operation and parameter, every status an operation can answer
  declared through the shared responses, every header the API sends declared, every
  response body a named schema, every list a page with ``items`` required.

A new endpoint that misses one of these fails here with its name and what it lacks.
"""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import webtest
from openapi_spec_validator import validate

from ..system_packages import require

HERE = Path(__file__).resolve().parent
REDOCLY = HERE / "node_modules" / ".bin" / "redocly"
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def document(wsgi_app):
    return webtest.TestApp(wsgi_app).get("/api/v1/openapi.json").json


def operations(document):
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method], item.get("parameters", []) + item[method].get("parameters", [])


def deref(document, node):
    if "$ref" not in node:
        return node
    target = document
    for part in node["$ref"].lstrip("#/").split("/"):
        target = target[part]
    return deref(document, target)


def test_the_served_document_is_valid_openapi(document):
    validate(document)


def redocly():
    """The pinned Redocly CLI, installed from the lockfile the first time (``npm ci``, about
    10 s; node_modules stays beside package.json, git-ignored, for the next run)."""
    require(shutil.which("npm") and shutil.which("node"), "npm", "Linting the OpenAPI document")
    if not REDOCLY.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=HERE, check=True,
                       capture_output=True, timeout=300)
    return REDOCLY


def test_redocly_recommended_ruleset_finds_nothing(document, tmp_path):
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(document))
    result = subprocess.run(
        [str(redocly()), "lint", "--extends=recommended", "--format=json", str(spec)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"},
    )
    report = json.loads(result.stdout[result.stdout.index("{"):])
    problems = [f"{p['severity']} {p['ruleId']}: {p['message']} at {p['location'][0]['pointer']}"
                for p in report["problems"]]
    assert problems == [] and result.returncode == 0, "\n".join(problems) or result.stderr


#: operationIds read verb + noun, camelCase: listMatches, getMatch, createHold...
OPERATION_ID = re.compile(r"^(list|get|create|update|replace|delete|sign|log|refresh|publish|close|cancel"
                          r"|checkout|join|verify|request|confirm|send|export)[A-Z][A-Za-z]*$")


def test_every_operation_has_one_id_style_a_tag_a_description_and_explicit_security(document):
    declared_tags = {tag["name"] for tag in document["tags"] if tag.get("description")}
    faults = []
    for path, method, op, _ in operations(document):
        where = f"{method.upper()} {path}"
        if not OPERATION_ID.match(op.get("operationId", "")):
            faults.append(f"{where}: operationId {op.get('operationId')!r} is not verbNoun")
        if not op.get("description") or not op.get("summary"):
            faults.append(f"{where}: no summary or description")
        if not op.get("tags") or not set(op["tags"]) <= declared_tags:
            faults.append(f"{where}: tags {op.get('tags')} are not declared with a description")
        if "security" not in op:
            faults.append(f"{where}: no explicit security (public operations say security: [])")
    assert faults == []


def test_every_parameter_has_a_description_and_an_example(document):
    faults = []
    for path, method, _, parameters in operations(document):
        for parameter in parameters:
            parameter = deref(document, parameter)
            if not parameter.get("description") or "example" not in parameter:
                faults.append(f"{method.upper()} {path}: {parameter['name']}")
    assert faults == []


def test_every_request_body_has_an_example(document):
    faults = []
    for path, method, op, _ in operations(document):
        if "requestBody" in op:
            media = op["requestBody"]["content"]["application/json"]
            if "example" not in media and "examples" not in media:
                faults.append(f"{method.upper()} {path}")
    assert faults == []


def ref_name(node, kind):
    prefix = f"#/components/{kind}/"
    return node["$ref"][len(prefix):] if node.get("$ref", "").startswith(prefix) else None


#: Status -> the shared responses an operation may reference for it.
SHARED = {"400": {"BadRequest"}, "401": {"Unauthorized"}, "402": {"InsufficientFunds"}, "403": {"Forbidden"},
          "404": {"NotFound"}, "409": {"Conflict", "SeatsTaken", "AlreadyCheckedIn", "QueueProblem"},
          "410": {"Gone"}, "413": {"PayloadTooLarge"}, "415": {"UnsupportedMediaType"},
          "422": {"ValidationFailed"}, "429": {"TooManyRequests"}, "503": {"ServiceUnavailable"},
          "default": {"Problem"}}


def test_every_status_an_operation_can_answer_is_declared_through_a_shared_response(document):
    faults = []
    for path, method, op, _ in operations(document):
        where = f"{method.upper()} {path}"
        responses = op["responses"]
        # Every /api/ request passes the input guard (400, 413, 422) and may be shed (503).
        expected = {"400", "413", "422", "503", "default"}
        if op["security"]:
            expected |= {"401", "403"}
        if "{" in path:
            expected.add("404")
        if "requestBody" in op:
            expected.add("415")
        for status in sorted(expected - set(responses)):
            faults.append(f"{where}: {status} not declared")
        for status, response in responses.items():
            if status.startswith(("4", "5")) or status == "default":
                if ref_name(response, "responses") not in SHARED.get(status, ()):
                    faults.append(f"{where}: {status} is not one of the shared responses {SHARED.get(status)}")
    assert faults == []


def test_every_success_is_a_named_schema_and_declares_its_headers(document):
    faults = []
    for path, method, op, parameters in operations(document):
        where = f"{method.upper()} {path}"
        for status, response in op["responses"].items():
            if not status.startswith(("2", "3")):
                continue
            headers = response.get("headers", {})
            if "X-Request-ID" not in headers:
                faults.append(f"{where} {status}: X-Request-ID not declared")
            for media_type, content in response.get("content", {}).items():
                schema = content["schema"]
                if media_type == "application/json" and ref_name(schema, "schemas") is None:
                    faults.append(f"{where} {status}: body is not a named schema")
                name = ref_name(schema, "schemas") or ""
                if name.endswith("Page") and "Link" not in headers:
                    faults.append(f"{where} {status}: a page without the Link header")
            names = {deref(document, p)["name"] for p in parameters}
            if "Idempotency-Key" in names and status.startswith("2") and "Idempotent-Replayed" not in headers:
                faults.append(f"{where} {status}: Idempotent-Replayed not declared")
        if "429" in op["responses"]:
            for status, response in op["responses"].items():
                if status.startswith("2") and not {"RateLimit", "RateLimit-Policy"} <= set(response.get("headers", {})):
                    faults.append(f"{where} {status}: rate-limited, without RateLimit headers")
    assert faults == []


def test_every_page_requires_its_items_and_says_whether_more_follow(document):
    schemas = document["components"]["schemas"]
    info = schemas["PageInfo"]
    assert set(info["required"]) >= {"total", "limit", "offset", "has_more", "next"}
    assert info["properties"]["next"]["format"] == "uri"
    pages = [name for name in schemas if name.endswith("Page")]
    assert len(pages) >= 5
    for name in pages:
        info_ref, own = schemas[name]["allOf"]
        assert info_ref == {"$ref": "#/components/schemas/PageInfo"} and own["required"] == ["items"], name


def test_every_schema_property_has_a_type_and_an_example(document):
    faults = []

    def walk(where, schema):
        for part in schema.get("allOf", []):
            walk(where, part)
        for key, prop in (schema.get("properties") or {}).items():
            here = f"{where}.{key}"
            if "$ref" in prop or "allOf" in prop:
                continue
            if prop.get("type") == "object":
                walk(here, prop)
            elif prop.get("type") == "array":
                items = prop.get("items", {})
                if items.get("type") == "object":
                    walk(here + "[]", items)
                elif not items or ("type" not in items and "$ref" not in items):
                    faults.append(f"{here}: untyped items")
            elif "type" not in prop:
                faults.append(f"{here}: no type")
            elif "example" not in prop:
                faults.append(f"{here}: no example")

    for name, schema in document["components"]["schemas"].items():
        walk(name, schema)
    assert faults == []
