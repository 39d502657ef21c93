"""Input the database could never store, refused before any work is done.

PostgreSQL text cannot hold NUL characters and UTF-8 cannot encode lone surrogates; JSON can
express both (``"\\u0000"``, ``"\\ud800"``), and so can a percent-encoded query string. Left
alone they surface deep inside a driver as a 500. This tween turns them, and bodies larger
than ``MAX_BODY_BYTES``, into clear 4xx problems for every ``/api/`` request; a declared
length over the limit is refused before a byte of the body is read.
"""
import json

from ticketing import problems
from ticketing.problems import problem_response

MAX_BODY_BYTES = 1024 * 1024


def _unstorable(value):
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_unstorable(key) or _unstorable(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_unstorable(item) for item in value)
    return False


def _check(request):
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        return problems.PayloadTooLarge(f"Request bodies are limited to {MAX_BODY_BYTES} bytes.")
    try:
        query_values = list(request.GET.items())
    except UnicodeDecodeError:
        return problems.BadRequest("The query string must be UTF-8.",
                                   errors=[problems.field_error("query", "is not valid UTF-8")])
    for name, value in query_values:
        if _unstorable(name) or _unstorable(value):
            return problems.ValidationFailed("A query parameter contains characters that cannot be stored.",
                                             errors=[problems.field_error(name[:100], "invalid characters")])
    body = request.body if length else b""
    if body and len(body) > MAX_BODY_BYTES:
        return problems.PayloadTooLarge(f"Request bodies are limited to {MAX_BODY_BYTES} bytes.")
    # Only escaped characters can smuggle NULs or surrogates into valid JSON; skip the parse
    # for the ordinary body that has none.
    if b"\\u" in body or b"\x00" in body:
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            return None  # malformed (or absurdly nested) JSON is reported by request validation
        if _unstorable(document):
            return problems.ValidationFailed("A value contains characters that cannot be stored (NUL or a lone surrogate).",
                                             errors=[problems.field_error("body", "invalid characters")])
    return None


def retry_attempts(request):
    """pyramid_retry's ``retry.activate_hook``: a request declaring a body over the limit runs
    once, never retried, so pyramid_retry does not first copy its whole body into memory to
    make it re-readable (the tween below then refuses it without reading it). None: the
    configured number of attempts."""
    length = request.content_length
    return 1 if length is not None and length > MAX_BODY_BYTES else None


def input_guard_tween_factory(handler, registry):
    def input_guard_tween(request):
        try:
            path = request.path
        except UnicodeDecodeError:  # e.g. /api/v1/matches/%FF: there is no such resource
            return problem_response(request, problems.NotFound("Nothing at this address (not valid UTF-8)."))
        if path.startswith("/api/"):
            problem = _check(request)
            if problem is not None:
                return problem_response(request, problem)
        return handler(request)

    return input_guard_tween
