"""Request ids and the structured access log.

The outermost tween gives each request an id (the client's ``X-Request-ID`` when it is sane,
else a new one), echoes it on the response and writes one JSON access-log line with the
status and duration, so a 500 reported by a client can be matched with its stack trace.

Successful, fast requests are logged at INFO; errors (status >= 400) and slow requests
(>= ``SLOW_MS``) at WARNING. Development logs both. ``production.ini`` keeps WARNING and up:
a log line per request cost a third of a seat-map poll's CPU in the GIL-bound process, and in
production nginx (deploy/nginx.conf) logs every request with the same ``X-Request-ID``.
"""
import json
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


def log_access(request_id, method, path, status, started, remote_addr, user_id=None):
    """One JSON line: INFO for a fast success, WARNING for a failure or a slow request."""
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    level = logging.WARNING if status >= 400 or duration_ms >= SLOW_MS else logging.INFO
    if access_log.isEnabledFor(level):
        access_log.log(
            level,
            json.dumps(
                {
                    "request_id": request_id,
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": duration_ms,
                    "remote_addr": remote_addr,
                    "user_id": user_id,
                }
            ),
        )


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
            log_access(request.request_id, request.method, request.environ.get("PATH_INFO", ""), status, started,
                       request.remote_addr, request.environ.get("ticketing.user_id"))

    return request_id_tween


def includeme(config):
    # Outermost: over pyramid_tm and pyramid_retry's view of the world, so even a failed
    # commit is logged with its id.
    config.add_tween("ticketing.request_log.request_id_tween_factory", over="pyramid_tm.tm_tween_factory")
