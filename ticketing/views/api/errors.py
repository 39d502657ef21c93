"""Exception views: every error under ``/api/`` becomes ``application/problem+json``.

This covers our own :class:`~ticketing.problems.Problem` errors, Pyramid's HTTP exceptions
(unknown routes, wrong methods, CSRF and permission failures), OpenAPI request validation and
any unexpected exception (a 500 that leaks no stack trace but logs it with the request id).
Outside ``/api/`` Pyramid's default HTML error pages stay in place for the admin.
"""
import logging

from openapi_core.deserializing.media_types.exceptions import MediaTypeDeserializeError
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.validation.request.exceptions import (
    MissingRequestBodyError,
    ParameterValidationError,
    SecurityValidationError,
)
from pyramid.exceptions import BadCSRFToken, PredicateMismatch
from pyramid.httpexceptions import HTTPException, HTTPForbidden, HTTPNotFound
from pyramid.view import exception_view_config, forbidden_view_config, notfound_view_config
from pyramid_openapi3.exceptions import RequestValidationError, ResponseValidationError
from pyramid_retry import is_error_retryable, is_last_attempt
from sqlalchemy.exc import DataError, DBAPIError, OperationalError

from ticketing import problems
from ticketing.problems import problem_response

log = logging.getLogger(__name__)

API_PATH = r"^/api/"


def _is_api(request):
    return request.path.startswith("/api/")


def allowed_methods(registry, route_name):
    """The methods some view answers on ``route_name`` (HEAD wherever GET is), for ``Allow``."""
    methods = set()
    for view in registry.introspector.get_category("views"):
        introspectable = view["introspectable"]
        if introspectable["route_name"] == route_name:
            declared = introspectable["request_methods"] or ()
            methods.update((declared,) if isinstance(declared, str) else declared)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


@notfound_view_config(path_info=API_PATH)
def api_not_found(exc, request):
    if isinstance(exc, PredicateMismatch) and request.matched_route is not None:
        allowed = allowed_methods(request.registry, request.matched_route.name)
        return problem_response(
            request,
            problems.MethodNotAllowed(f"{request.method} is not allowed on {request.path}; "
                                      f"it answers {', '.join(allowed)}.", headers={"Allow": ", ".join(allowed)}),
        )
    return problem_response(request, problems.NotFound(f"Nothing at {request.path}."))


@forbidden_view_config(path_info=API_PATH)
def api_forbidden(exc, request):
    if isinstance(exc, BadCSRFToken):
        return problem_response(request, problems.Forbidden("Missing or invalid CSRF token."))
    if request.identity is None:
        detail = "A valid bearer access token is required."
        if request.environ.get("ticketing.invalid_token"):
            detail = "The access token is invalid or expired."
        return problem_response(request, problems.Unauthorized(detail))
    return problem_response(request, problems.Forbidden("You may not do this."))


@exception_view_config(problems.Problem)
def domain_problem(exc, request):
    return problem_response(request, exc)


def _schema_error_field(error, parent=None):
    path = [str(part) for part in getattr(error, "absolute_path", getattr(error, "path", []))]
    if getattr(error, "validator", None) == "required":
        message = str(getattr(error, "message", ""))
        if message.startswith("'") and "'" in message[1:]:
            path.append(message[1 : message.index("'", 1)])
    field = "/".join(path) or parent or "body"
    return field


def _validation_errors(errors):
    """Map openapi-core errors to (status, field errors)."""
    status = 422
    fields = []
    for error in errors:
        cause = error.__cause__
        if isinstance(error, SecurityValidationError):
            return 401, []
        if isinstance(cause, MediaTypeNotFound) or isinstance(error, MediaTypeNotFound):
            return 415, [problems.field_error("Content-Type", "must be application/json")]
        if isinstance(cause, MediaTypeDeserializeError):
            return 400, [problems.field_error("body", "is not valid JSON")]
        if isinstance(error, MissingRequestBodyError):
            return 400, [problems.field_error("body", "a JSON body is required")]
        schema_errors = getattr(cause, "schema_errors", None)
        name = getattr(error, "name", None)
        if schema_errors:
            for schema_error in schema_errors:
                fields.append(
                    problems.field_error(
                        _schema_error_field(schema_error, name), schema_error.message[:300]
                    )
                )
        elif isinstance(error, ParameterValidationError):
            fields.append(problems.field_error(name or "parameter", str(cause or error)[:300]))
        else:
            fields.append(problems.field_error(name or "body", str(cause or error)[:300]))
    return status, fields


@exception_view_config(RequestValidationError, path_info=API_PATH)
def request_validation_failed(exc, request):
    status, fields = _validation_errors(exc.errors)
    problem = {
        400: problems.BadRequest("The request body could not be read.", errors=fields),
        401: problems.Unauthorized("A valid bearer access token is required."),
        415: problems.UnsupportedMediaType("Send the body as application/json.", errors=fields),
        422: problems.ValidationFailed("Some fields are not valid.", errors=fields),
    }[status]
    if status == 400 and fields and fields[0]["message"] == "is not valid JSON":
        problem = problems.MalformedJSON("The body is not valid JSON.", errors=fields)
    return problem_response(request, problem)


@exception_view_config(ResponseValidationError, path_info=API_PATH)
def response_validation_failed(exc, request):
    # Our bug, not the client's: log it fully, tell the client only that it failed.
    log.error("response broke the API contract [%s]: %s", request.request_id, exc)
    return problem_response(request, _server_error())


@exception_view_config(HTTPException, path_info=API_PATH)
def api_http_exception(exc, request):
    if isinstance(exc, HTTPForbidden):
        return api_forbidden(exc, request)
    if isinstance(exc, HTTPNotFound):
        return api_not_found(exc, request)
    if exc.code < 400:
        return exc
    problem = problems.Problem(exc.detail or exc.explanation or exc.title)
    problem.status, problem.title, problem.slug = exc.code, exc.title, exc.title.lower().replace(" ", "-")
    return problem_response(request, problem)


def _server_error():
    problem = problems.Problem("An unexpected error occurred; it has been logged.")
    problem.status, problem.title, problem.slug = 500, "Internal server error", "internal-error"
    return problem


@exception_view_config(UnicodeDecodeError, path_info=API_PATH)
def not_utf8(exc, request):
    return problem_response(
        request,
        problems.BadRequest("The request must be UTF-8 encoded.",
                            errors=[problems.field_error("body", "is not valid UTF-8")]),
    )


@exception_view_config(DataError, path_info=API_PATH)
def value_out_of_range(exc, request):
    # PostgreSQL refused a value the schema allowed (a NUL character, an out-of-range number or
    # time zone offset): the client's input, not our failure. The transaction is aborted.
    log.info("database refused a value [%s]: %s", request.request_id, getattr(exc, "orig", exc))
    return problem_response(
        request,
        problems.ValidationFailed(
            "A value is out of range or contains characters that cannot be stored.",
            errors=[problems.field_error("body", "out of range or invalid characters")],
        ),
    )


@exception_view_config(OperationalError, path_info=API_PATH)
def database_unavailable(exc, request):
    code = getattr(getattr(exc, "orig", None), "pgcode", None)
    if code in ("55P03", "57014"):  # lock_timeout / statement_timeout under extreme contention
        log.warning("database timeout [%s]: %s", request.request_id, code)
        return problem_response(
            request,
            problems.ServiceUnavailable(
                "The box office is very busy; please retry.", headers={"Retry-After": "1"}
            ),
        )
    if is_error_retryable(request, exc) and not is_last_attempt(request):
        # A pooled connection had died: pyramid_retry runs the request again (decision 0016).
        log.info("lost database connection, retrying [%s]: %s", request.request_id, getattr(exc, "orig", exc))
    else:
        log.exception("database error [%s]", request.request_id)
    return problem_response(
        request,
        problems.ServiceUnavailable(
            "The database is not reachable; please retry shortly.", headers={"Retry-After": "5"}
        ),
    )


@exception_view_config(Exception, path_info=API_PATH)
def unexpected_error(exc, request):
    if isinstance(exc, DBAPIError) and getattr(exc, "connection_invalidated", False):
        return database_unavailable(exc, request)
    log.exception("unhandled error [%s] %s %s", request.request_id, request.method, request.path)
    return problem_response(request, _server_error())
