"""The seat map's fast path: a poll that the database answered a moment ago is answered again
from memory, without a session, traversal, identity or a query (docs/decisions/0014).

Why: during a rush thousands of fans poll the same map. Through the whole stack a ``304``
costs ~1.7 ms of the app's one core (a pooled connection, the match row, the ETag query,
validation), so polls alone could eat the core that sells seats. Here a repeat poll costs
what a bare Pyramid view costs.

What it guarantees:
- **Bounded staleness.** An answer from here is the answer the full path gave at most
  ``seatmap.fresh_seconds`` ago (1 s in production; 0 turns the fast path off). The map is
  advisory anyway: the claim decides, and a seat someone took in the last second is a 409
  naming it, never a double sale.
- **No new permissions.** Only maps whose resource ``__acl__`` lets ``Everyone`` view them
  are remembered (``remember_if_public``, called by the full view), so the fast path never
  shows anything the full path would refuse to an anonymous caller. A draft, a filtered map,
  a ``HEAD`` or an unknown ETag always goes the full way.
- **Same answer.** Status, body and headers are those of the full view (ETag,
  ``Cache-Control: no-cache``); the outer tweens add the request id and security headers.
"""
import re
import threading
import time

from pyramid.authorization import ACLHelper, Everyone
from pyramid.response import Response

SEAT_MAP_PATH = re.compile(r"/api/v1/matches/([1-9][0-9]{0,17})/seats")
MAX_ENTRIES = 512  # one entry per public match being polled; a season has a few hundred


class FreshSeatMaps:
    """Per-process memory of the last ETag (and body) the full seat-map view served.

    Reads take no lock: a dict lookup is atomic in CPython, and an entry is replaced whole.
    """

    def __init__(self, fresh_seconds, clock=time.monotonic):
        self.fresh_seconds = fresh_seconds
        self.clock = clock
        self.entries = {}  # match id -> (etag, body or None, valid until)
        self.lock = threading.Lock()

    @property
    def enabled(self):
        return self.fresh_seconds > 0

    def remember(self, match_id, etag, body=None):
        """The full path just served ``etag`` (a 304 carries no body: keep the one we have)."""
        if not self.enabled:
            return
        with self.lock:
            previous = self.entries.pop(match_id, None)
            if body is None and previous is not None and previous[0] == etag:
                body = previous[1]
            self.entries[match_id] = (etag, body, self.clock() + self.fresh_seconds)
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


def remember_if_public(request, context, match_id, etag, body=None):
    """Called by the full seat-map view after it answered an unfiltered request."""
    fresh = request.registry.get("fresh_seat_maps")
    if fresh is None or not fresh.enabled or request.query_string:
        return
    if _acl.permits(context, [Everyone], "match:view"):
        fresh.remember(match_id, etag, body)


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


def matches_etag(request, etag):
    header = request.headers.get("If-None-Match")
    return header is not None and (header == etag or etag in request.if_none_match)


def seat_map_fast_path_tween_factory(handler, registry):
    fresh = registry["fresh_seat_maps"]

    def seat_map_fast_path_tween(request):
        if fresh.enabled and request.method == "GET" and not request.query_string:
            found = SEAT_MAP_PATH.fullmatch(request.path_info)
            if found is not None:
                entry = fresh.fresh(int(found.group(1)))
                if entry is not None:
                    etag, body = entry
                    if matches_etag(request, etag):
                        return not_modified(etag)
                    if body is not None:
                        return seat_map_response(etag, body)
        return handler(request)

    return seat_map_fast_path_tween


def includeme(config):
    settings = config.get_settings()
    config.registry["fresh_seat_maps"] = FreshSeatMaps(float(settings.get("seatmap.fresh_seconds") or 0))
