"""The seat map's fast path: a poll that the database answered a moment ago is answered again
from memory, in front of the Pyramid router: no request object, session, traversal, identity
or query (docs/decisions/0014).

Why: during a rush thousands of fans poll the same map. Through the whole stack a ``304``
costs ~1.7 ms of the app's one core (a pooled connection, the match row, the ETag query,
validation), so polls alone could eat the core that sells seats. Here a repeat poll costs
less than a bare Pyramid view.

What it guarantees:
- **Bounded staleness.** An answer from here is what the database said at most
  ``seatmap.fresh_seconds`` ago (1 s in production; 0 turns the fast path off): the window
  counts from the full path's ETag read, not from when its response was ready, and a slow
  request's older read never replaces a newer one. The map is
  advisory anyway: the claim decides, and a seat someone took in the last second is a 409
  naming it, never a double sale.
- **No new permissions.** Only maps whose resource ``__acl__`` lets ``Everyone`` view them
  are remembered (``remember_if_public``, called by the full view), so the fast path never
  shows anything the full path would refuse to an anonymous caller. A draft, a filtered map,
  a ``HEAD`` or an unknown ETag always goes the full way.
- **Same answer.** Status, body and headers are those of the full path (ETag,
  ``Cache-Control: no-cache``, the request id and security headers, an access-log line).
"""
import re
import threading
import time

from pyramid.authorization import ACLHelper, Everyone
from pyramid.response import Response

from ticketing.request_log import log_access, request_id
from ticketing.security_headers import security_headers

SEAT_MAP_PATH = re.compile(r"/api/v1/matches/([1-9][0-9]{0,17})/seats")
MAX_ENTRIES = 512  # one entry per public match being polled; a season has a few hundred


class FreshSeatMaps:
    """Per-process memory of the last ETag (and body) the full seat-map view served.

    Reads take no lock: a dict lookup is atomic in CPython, and an entry is replaced whole.
    """

    def __init__(self, fresh_seconds, clock=time.monotonic):
        self.fresh_seconds = fresh_seconds
        self.clock = clock
        self.entries = {}  # match id -> (etag, body or None, valid until, read at)
        self.lock = threading.Lock()

    @property
    def enabled(self):
        return self.fresh_seconds > 0

    def remember(self, match_id, etag, body=None, read_at=None):
        """The full path served ``etag``, read from the database at ``read_at`` (this memory's
        clock, taken before the read; default now). A 304 carries no body: keep the one we
        have for that ETag."""
        if not self.enabled:
            return
        read_at = self.clock() if read_at is None else read_at
        with self.lock:
            previous = self.entries.get(match_id)
            if previous is not None and previous[3] > read_at:
                return  # a request that read later has already answered: it is the newer map
            self.entries.pop(match_id, None)
            if body is None and previous is not None and previous[0] == etag:
                body = previous[1]
            self.entries[match_id] = (etag, body, read_at + self.fresh_seconds, read_at)
            while len(self.entries) > MAX_ENTRIES:
                del self.entries[next(iter(self.entries))]

    def fresh(self, match_id):
        """``(etag, body or None)`` if the full path answered within ``fresh_seconds``."""
        entry = self.entries.get(match_id)
        if entry is None or entry[2] < self.clock():
            return None
        return entry[0], entry[1]

    def forget(self, match_id=None):
        with self.lock:
            if match_id is None:
                self.entries.clear()
            else:
                self.entries.pop(match_id, None)


_acl = ACLHelper()


def read_started(request):
    """The fast path's clock, read by the full view just before it reads the ETag."""
    fresh = request.registry.get("fresh_seat_maps")
    return fresh.clock() if fresh is not None else None


def remember_if_public(request, context, match_id, etag, body=None, read_at=None):
    """Called by the full seat-map view after it answered an unfiltered request; ``read_at``:
    :func:`read_started` from before its ETag read."""
    fresh = request.registry.get("fresh_seat_maps")
    if fresh is None or not fresh.enabled or request.query_string:
        return
    if _acl.permits(context, [Everyone], "match:view"):
        fresh.remember(match_id, etag, body, read_at)


def etag_matches(if_none_match, etag):
    """RFC 9110 weak comparison of ``etag`` with an ``If-None-Match`` header (a list, or ``*``)."""
    if not if_none_match:
        return False
    opaque = etag[2:] if etag.startswith("W/") else etag
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or (candidate[2:] if candidate.startswith("W/") else candidate) == opaque:
            return True
    return False


def not_modified(etag):
    response = Response(status=304)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-cache"
    return response


def seat_map_response(etag, body):
    response = Response(body=body, content_type="application/json", charset=None)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-cache"
    return response


class SeatMapFastPath:
    """WSGI middleware in front of the Pyramid router (the app ``ticketing.main`` returns).

    It sits outside Pyramid because what it saves is Pyramid's per-request work (request
    object, tweens, retry policy); so it adds what the outer tweens would have added itself:
    the request id, the security headers and the access-log line (same functions).
    """

    def __init__(self, app, fresh, production):
        self.app = app
        self.fresh = fresh
        self.headers = security_headers(production)

    def __getattr__(self, name):  # the router's ``registry`` and the rest, for tests and tools
        return getattr(self.app, name)

    def __call__(self, environ, start_response):
        fresh = self.fresh
        if fresh.enabled and environ["REQUEST_METHOD"] == "GET" and not environ.get("QUERY_STRING"):
            found = SEAT_MAP_PATH.fullmatch(environ.get("PATH_INFO", ""))
            entry = fresh.fresh(int(found.group(1))) if found is not None else None
            if entry is not None:
                etag, body = entry
                if etag_matches(environ.get("HTTP_IF_NONE_MATCH"), etag):
                    return self._answer(environ, start_response, etag, 304, b"")
                if body is not None:
                    return self._answer(environ, start_response, etag, 200, body)
        return self.app(environ, start_response)

    def _answer(self, environ, start_response, etag, status, body):
        started = time.perf_counter()
        rid = request_id(environ.get("HTTP_X_REQUEST_ID", ""))
        headers = [("ETag", etag), ("Cache-Control", "no-cache")]
        if status == 200:
            headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        headers += [*self.headers, ("X-Request-ID", rid)]
        start_response("304 Not Modified" if status == 304 else "200 OK", headers)
        log_access(rid, "GET", environ["PATH_INFO"], status, started, environ.get("REMOTE_ADDR"))
        return [body] if body else []


def wrap(app, settings):
    """Put the fast path in front of the router; the view finds its memory in the registry."""
    fresh = FreshSeatMaps(float(settings.get("seatmap.fresh_seconds") or 0))
    app.registry["fresh_seat_maps"] = fresh
    return SeatMapFastPath(app, fresh, settings.get("ticketing.production", False))
