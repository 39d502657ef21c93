"""Domain errors and their RFC 9457 ``application/problem+json`` rendering.

Services raise these exceptions (they know nothing of HTTP beyond a status hint); the
exception views in :mod:`ticketing.views.api.errors` render them. Every error under ``/api/``
has the same shape: ``type``, ``title``, ``status``, ``detail``, ``errors`` (one entry per bad
field) and the request id, so clients can handle errors generically and support can find the
log line.
"""
import json

from pyramid.response import Response

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:ticketing:problem:"


class Problem(Exception):
    """Base class of every error a client is meant to see."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail=None, *, errors=None, headers=None, extra=None):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra or {}


class BadRequest(Problem):
    status, slug, title = 400, "bad-request", "Bad request"


class MalformedJSON(Problem):
    status, slug, title = 400, "malformed-json", "Malformed JSON body"


class Unauthorized(Problem):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail=None, **kwargs):
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="ticketing"'})
        super().__init__(detail, **kwargs)


class PaymentRequired(Problem):
    status, slug, title = 402, "insufficient-funds", "Insufficient wallet balance"


class Forbidden(Problem):
    status, slug, title = 403, "forbidden", "Not allowed"


class NotFound(Problem):
    status, slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(Problem):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class Conflict(Problem):
    status, slug, title = 409, "conflict", "Conflict with the current state"


class Gone(Problem):
    status, slug, title = 410, "gone", "No longer available"


class PayloadTooLarge(Problem):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(Problem):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(Problem):
    status, slug, title = 422, "validation-failed", "The request is not valid"


class RateLimited(Problem):
    status, slug, title = 429, "rate-limited", "Too many requests"

    def __init__(self, retry_after, detail=None, **kwargs):
        self.retry_after = max(1, int(retry_after))
        kwargs["headers"] = {"Retry-After": str(self.retry_after), **(kwargs.get("headers") or {})}
        super().__init__(detail or "Too many requests; try again later.", **kwargs)


class ServiceUnavailable(Problem):
    status, slug, title = 503, "service-unavailable", "Service temporarily unavailable"


class ServiceBusy(Problem):
    """A request refused unstarted because it waited too long for a thread (load_shedding.py)."""

    status, slug, title = 503, "service-busy", "The box office is very busy"


def field_error(field, message, code=None):
    """One entry of a problem's ``errors`` list."""
    error = {"field": field, "message": message}
    if code:
        error["code"] = code
    return error


def problem_body(status, title, detail, slug, errors=(), request_id=None, extra=None):
    body = {
        "type": TYPE_PREFIX + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "errors": list(errors),
    }
    if request_id:
        body["request_id"] = request_id
    if extra:
        body.update(extra)
    return body


def problem_response(request, problem):
    """Render a :class:`Problem` as an ``application/problem+json`` response."""
    body = problem_body(
        problem.status,
        problem.title,
        problem.detail,
        problem.slug,
        problem.errors,
        getattr(request, "request_id", None),
        problem.extra,
    )
    response = Response(
        body=json.dumps(body).encode("utf-8"),
        status=problem.status,
        content_type=PROBLEM_CONTENT_TYPE,
        charset=None,
    )
    for name, value in problem.headers.items():
        response.headers[name] = value
    return response
