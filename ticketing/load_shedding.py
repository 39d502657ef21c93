"""Load shedding: an API request that waited too long for a thread is refused at once with a
``503`` and ``Retry-After``, before any session, query or transaction (docs/decisions/0025).

Why: when fans arrive faster than the box office can serve them (the first minute of a
final's sale), waitress's queue of requests grows without bound and so does everyone's wait:
each request is served at last, long after its fan gave up or pressed "buy" again, and the
work done for it is lost while fresh requests wait behind it. Refusing the requests that
have already waited longer than ``ticketing.max_queue_wait_ms`` keeps the queue short, so
the requests that are served are served while their fan still waits; the refused ones cost
a fraction of a millisecond each and changed nothing, so they are safe to retry.

What it sheds, and what last:
- Only ``/api/`` requests: ``/healthz`` must keep telling the load balancer the process is
  alive, and the staff's admin pages are a trickle that shedding would not relieve.
- The requests that finish work already done get three times the limit: paying for a hold
  (``POST /holds/{id}/checkout``), releasing one (``DELETE /holds/{id}``: it frees seats for
  everyone) and scanning a ticket at the gate. A fan who has seats in hand can pay for them
  unless the process is stalled, and the checkouts cannot outgrow the holds that were let in
  before them. (Not "never": a URL costs nothing to send, and a flood of made-up checkouts
  must not be able to wait forever.)

The answer is an ``application/problem+json`` body of type ``service-busy`` with a
``Retry-After`` of one to a few seconds, spread at random so refused fans do not all come
back in the same second. Shedding is logged as one summary line every few seconds, not a
line per refusal: a line per request would cost most when the process is busiest.
"""
import json
import logging
import random
import re
import threading
import time

from ticketing.problems import PROBLEM_CONTENT_TYPE, ServiceBusy, problem_body
from ticketing.request_log import request_id
from ticketing.security_headers import security_headers

log = logging.getLogger(__name__)

#: The environ key of the moment (``time.monotonic()``) the request was queued for a thread,
#: set by ticketing/server.py.
QUEUED_AT = "ticketing.queued_at"

#: Requests that complete what an earlier request started: shed last, and served before new
#: work when threads are short (ticketing/server.py). The admin's gate scan is one too.
FINISHING_WORK = (
    ("POST", re.compile(r"/api/v1/holds/[^/]+/checkout/?")),
    ("DELETE", re.compile(r"/api/v1/holds/[^/]+/?")),
    ("POST", re.compile(r"/api/v1/matches/[^/]+/check-ins/?")),
    ("POST", re.compile(r"/admin/matches/[^/]+/gate/?")),
)
#: Finishing work is refused only after waiting this many times the limit.
FINISHING_WORK_PATIENCE = 3
SUMMARY_EVERY_SECONDS = 5.0


def finishes_work(method, path):
    """Whether the request completes work an earlier request started (see above)."""
    return any(method == m and pattern.fullmatch(path) for m, pattern in FINISHING_WORK)


def patience(method, path):
    """How many times the wait limit a request may wait before it is refused: 0 = never."""
    if not path.startswith("/api/"):
        return 0
    return FINISHING_WORK_PATIENCE if finishes_work(method, path) else 1


class ShedLog:
    """Counts refusals and logs them as one line per ``SUMMARY_EVERY_SECONDS`` at most."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.lock = threading.Lock()
        self.count = 0
        self.longest_wait = 0.0
        self.since = clock()

    def refused(self, waited):
        with self.lock:
            self.count += 1
            self.longest_wait = max(self.longest_wait, waited)
            now = self.clock()
            if now - self.since < SUMMARY_EVERY_SECONDS:
                return
            count, longest, since = self.count, self.longest_wait, self.since
            self.count, self.longest_wait, self.since = 0, 0.0, now
        log.warning("load shedding: refused %d API requests in the last %.1f s (longest wait %.2f s)",
                    count, now - since, longest)


class QueueWaitLimit:
    """WSGI middleware between waitress and the Pyramid router.

    It reads the moment the request was queued for a thread (``ticketing.queued_at``, set by
    ticketing/server.py); a server that does not set it is never shed.
    """

    def __init__(self, app, max_wait_seconds, production, clock=time.monotonic, retry_after=None):
        self.app = app
        self.max_wait_seconds = max_wait_seconds
        self.clock = clock
        # One second to the wait limit, at random: spreads the retries over the time the
        # queue takes to turn over.
        ceiling = max(2, round(max_wait_seconds))
        self.retry_after = retry_after or (lambda: random.randint(1, ceiling))
        self.headers = security_headers(production)
        self.shed_log = ShedLog(clock)

    def __getattr__(self, name):  # the router's ``registry`` and the rest, for tests and tools
        return getattr(self.app, name)

    def __call__(self, environ, start_response):
        queued_at = environ.get(QUEUED_AT)
        if queued_at is not None and self.max_wait_seconds > 0:
            waited = self.clock() - queued_at
            if waited > self.max_wait_seconds:
                allowed = patience(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""))
                if allowed and waited > allowed * self.max_wait_seconds:
                    return self._refuse(environ, start_response, waited)
        return self.app(environ, start_response)

    def _refuse(self, environ, start_response, waited):
        self.shed_log.refused(waited)
        rid = request_id(environ.get("HTTP_X_REQUEST_ID", ""))
        retry_after = self.retry_after()
        body = json.dumps(problem_body(
            ServiceBusy.status, ServiceBusy.title,
            f"The box office is very busy: this request waited {waited:.1f} s for its turn and was not "
            f"started, so nothing changed. Retry in {retry_after} s (with the same Idempotency-Key, if it "
            "had one).",
            ServiceBusy.slug, request_id=rid,
        )).encode()
        start_response("503 Service Unavailable", [
            ("Content-Type", PROBLEM_CONTENT_TYPE),
            ("Content-Length", str(len(body))),
            ("Retry-After", str(retry_after)),
            ("Cache-Control", "no-store"),
            *self.headers,
            ("X-Request-ID", rid),
        ])
        return [body]


def wrap(app, settings):
    """Put the wait limit in front of the router; ``ticketing.max_queue_wait_ms`` 0 turns it off."""
    max_wait_ms = settings.get("ticketing.max_queue_wait_ms") or 0
    if max_wait_ms <= 0:
        return app
    return QueueWaitLimit(app, max_wait_ms / 1000, settings.get("ticketing.production", False))
