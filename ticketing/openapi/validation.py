"""Request validation against the OpenAPI document, compiled once at start-up.

pyramid_openapi3 (through openapi-core) re-resolves the document's ``$ref``s and deep-copies
its format checker on every request: about 7 ms of CPU per request here, half of a
purchase's server time and most of a seat-map ``304`` (docs/performance.md). The contract is
the same document either way, so this module resolves it once, builds one ``OAS30Validator``
per request body and one per parameter, and keeps them for the life of the process
(jsonschema validators are immutable and safe to share between threads).

It replaces ``request.openapi_validated`` (the object views read: ``.body``,
``.parameters.query/path/header``) and raises our problem types directly: unreadable JSON ->
400, wrong content type -> 415, schema violations -> 422 with one entry per field. Response
validation stays with pyramid_openapi3's tween, on in development and tests.
"""
import copy
import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from openapi_schema_validator import OAS30Validator, oas30_format_checker

from ticketing import problems
from ticketing.problems import field_error

_INTEGER = re.compile(r"^-?[0-9]{1,20}$")


def _resolve(node, document, seen=()):
    """Inline every local ``$ref`` (the document has no recursive schemas)."""
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                raise ValueError(f"recursive $ref {ref}")
            target = document
            for part in ref.lstrip("#/").split("/"):
                target = target[part]
            return _resolve(copy.deepcopy(target), document, seen + (ref,))
        return {key: _resolve(value, document, seen) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(item, document, seen) for item in node]
    return node


def schema_error_field(error, parent=None):
    """A field path such as ``rows/0/seats`` for one jsonschema error."""
    path = [str(part) for part in error.absolute_path]
    if error.validator == "required":
        message = str(error.message)
        if message.startswith("'") and "'" in message[1:]:
            path.append(message[1 : message.index("'", 1)])
    return "/".join(path) or parent or "body"


@dataclass
class Parameter:
    name: str
    location: str
    required: bool
    schema: dict
    validator: OAS30Validator

    def coerce(self, raw):
        """Turn the text of a query/path/header value into the schema's type."""
        kind = self.schema.get("type")
        if kind == "integer":
            if not _INTEGER.match(raw):
                raise ValueError("must be a whole number")
            return int(raw)
        if kind == "boolean":
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError("must be true or false")
            return raw.lower() in ("true", "1")
        return raw

    def parse(self, raw):
        value = self.coerce(raw)
        errors = list(self.validator.iter_errors(value))
        if errors:
            raise ValueError(errors[0].message[:300])
        if self.schema.get("format") == "date-time":
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                raise ValueError("must be an ISO-8601 date-time") from None
        return value


@dataclass
class Operation:
    parameters: list = field(default_factory=list)
    body_validator: OAS30Validator | None = None
    body_required: bool = False


class Parameters:
    def __init__(self):
        self.query, self.path, self.header = {}, {}, {}


class Validated:
    """What views read from ``request.openapi_validated``."""

    errors = ()

    def __init__(self, body, parameters):
        self.body = body
        self.parameters = parameters


def _validator(schema):
    return OAS30Validator(schema, format_checker=oas30_format_checker)


class CompiledSpec:
    def __init__(self, document, field_checks=None):
        """``field_checks``: ``function(route name, body, schema errors) -> errors``, the
        service's own checks added to a body the schema refused (views/api/field_checks.py)."""
        self.field_checks = field_checks
        resolved = _resolve(document, document)
        self.prefix = (resolved.get("servers") or [{"url": ""}])[0]["url"].rstrip("/")
        self.operations = {}
        for path, item in resolved["paths"].items():
            shared = item.get("parameters", [])
            for method, spec in item.items():
                if method == "parameters":
                    continue
                operation = Operation()
                by_key = {(p["in"], p["name"]): p for p in shared + spec.get("parameters", [])}
                for (location, name), parameter in by_key.items():
                    schema = parameter.get("schema", {})
                    operation.parameters.append(
                        Parameter(name, location, parameter.get("required", False), schema, _validator(schema))
                    )
                body = spec.get("requestBody")
                if body:
                    schema = body["content"]["application/json"]["schema"]
                    operation.body_validator = _validator(schema)
                    operation.body_required = body.get("required", False)
                self.operations[(self.prefix + path, method.upper())] = operation

    def validate(self, request):
        # HEAD is a GET without the body (Pyramid's GET views answer it): same operation.
        method = "GET" if request.method == "HEAD" else request.method
        operation = self.operations.get((request.matched_route.pattern, method))
        if operation is None:
            return Validated(None, Parameters())
        parameters = Parameters()
        errors = []
        for parameter in operation.parameters:
            source = {
                "query": request.GET,
                "path": request.matchdict,
                "header": request.headers,
            }.get(parameter.location, {})
            raw = source.get(parameter.name)
            if raw is None:
                default = parameter.schema.get("default")
                if parameter.required:
                    errors.append(field_error(parameter.name, "is required"))
                elif default is not None and parameter.location == "query":
                    parameters.query[parameter.name] = default
                continue
            try:
                value = parameter.parse(raw)
            except ValueError as exc:
                errors.append(field_error(parameter.name, str(exc)))
                continue
            getattr(parameters, parameter.location)[parameter.name] = value
        body = self._body(request, operation, errors)
        if errors:
            if self.field_checks is not None:
                errors = self.field_checks(request.matched_route.name, body, errors)
            raise problems.ValidationFailed("Some fields are not valid.", errors=errors)
        return Validated(body, parameters)

    def _body(self, request, operation, errors):
        if operation.body_validator is None:
            return None
        if not request.body:
            if operation.body_required:
                raise problems.BadRequest("The request body could not be read.",
                                          errors=[field_error("body", "a JSON body is required")])
            return None
        media_type = (request.content_type or "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise problems.UnsupportedMediaType("Send the body as application/json.",
                                                errors=[field_error("Content-Type", "must be application/json")])
        try:
            body = json.loads(request.body)
        except (ValueError, RecursionError):
            raise problems.MalformedJSON("The body is not valid JSON.",
                                         errors=[field_error("body", "is not valid JSON")]) from None
        for error in operation.body_validator.iter_errors(body):
            errors.append(field_error(schema_error_field(error), error.message[:300]))
        return body


def openapi_validated(request):
    """The request method views use (replaces pyramid_openapi3's openapi-core based one)."""
    if request.method == "HEAD":
        # The document describes GETs; a HEAD's empty body has nothing to check, and
        # openapi-core, finding no HEAD operation, would fail the response (a 500).
        request.environ["pyramid_openapi3.validate_response"] = False
    return request.registry["compiled_openapi"].validate(request)
