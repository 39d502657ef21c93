"""Request ids and the access log.

The outermost tween gives each request an id (the client's ``X-Request-ID`` when it is sane,
else a new one), echoes it on the response and writes one access-log line with the route
name, status and duration, so a 500 reported by a client can be matched with its stack trace.

Each line's fields (:data:`FIELDS`) travel on the log record itself (``extra``), so the
formatter decides the shape: development.ini prints a plain line for people; production.ini
formats every record as one JSON object with python-json-logger (decision 0051), which log
shippers index without a parser of ours. Never logged: headers, bodies, query strings, tokens
or passwords; the user is their id.

Successful, fast requests are logged at INFO; errors (status >= 400) and slow requests
(>= ``SLOW_MS``) at WARNING. Development logs both. ``production.ini`` keeps WARNING and up:
a log line per request cost a third of a seat-map poll's CPU in the GIL-bound process, and in
production nginx (deploy/nginx.conf) logs every request with the same ``X-Request-ID``; set the
``ticketing.access`` logger to INFO there for a JSON line per request.
"""
import logging
import re
import time
import uuid

access_log = logging.getLogger("ticketing.access")

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
SLOW_MS = 1000


def request_id(incoming):
    """The client's ``X-Request-ID`` when it is sane, else a new one."""
    return incoming if incoming and _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex


#: The fields of an access-log line, as attributes of its log record.
FIELDS = ("request_id", "method", "route", "path", "status", "duration_ms", "remote_addr", "user_id")


def log_access(request_id, method, path, status, started, remote_addr, user_id=None, route=None):
    """One line: INFO for a fast success, WARNING for a failure or a slow request."""
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    level = logging.WARNING if status >= 400 or duration_ms >= SLOW_MS else logging.INFO
    if access_log.isEnabledFor(level):
        access_log.log(
            level,
            "%s %s %s %.1f ms route=%s rid=%s user=%s",
            method, path, status, duration_ms, route, request_id, user_id,
            extra={"request_id": request_id, "method": method, "route": route, "path": path,
                   "status": status, "duration_ms": duration_ms, "remote_addr": remote_addr,
                   "user_id": user_id},
        )


def fields_of(record):
    """The access-log fields of ``record`` as a dict (tests and log tooling read them)."""
    return {name: getattr(record, name, None) for name in FIELDS}


def request_id_tween_factory(handler, registry):
    def request_id_tween(request):
        request.request_id = request_id(request.headers.get("X-Request-ID", ""))
        started = time.perf_counter()
        status = 500
        try:
            response = handler(request)
            status = response.status_code
            response.headers["X-Request-ID"] = request.request_id
            return response
        finally:
            route = request.matched_route.name if request.matched_route is not None else None
            log_access(request.request_id, request.method, request.environ.get("PATH_INFO", ""), status, started,
                       request.remote_addr, request.environ.get("ticketing.user_id"), route)

    return request_id_tween


def includeme(config):
    # Outermost: over pyramid_tm and pyramid_retry's view of the world, so even a failed
    # commit is logged with its id.
    config.add_tween("ticketing.request_log.request_id_tween_factory", over="pyramid_tm.tm_tween_factory")
