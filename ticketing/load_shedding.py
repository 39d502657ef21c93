"""Load shedding: an API request that waited too long in front of the app is refused unstarted
with a ``503`` and ``Retry-After`` (decisions 0025 and 0035).

Why: when fans arrive faster than the box office can serve them (the first minute of a
final's sale), the queue in front of the app grows without bound and so does everyone's wait:
each request is served at last, long after its fan gave up or pressed "buy" again, and the
work done for it is lost while fresh requests wait behind it. Refusing the requests that have
already waited longer than ``ticketing.max_queue_wait_ms`` keeps the queue short, so the
requests that are served are served while their fan still waits; the refused ones changed
nothing, so they are safe to retry.

How long a request waited is read from the proxy's stamp: nginx sets
``X-Request-Start: t=<seconds since the epoch, with milliseconds>`` (``${msec}``) when it
passes the request on (deploy/nginx.conf), trusted only on a request that came through the
trusted proxy (ticketing/proxy_clock.py). **Without a proxy stamp there is no shedding**: a process run on its own serves every request however late.

What it sheds, and what last (declared in ``routes.py``, never by a copy of the paths):
- only API routes (``api.*``): ``/healthz`` must keep telling the load balancer the process
  is alive, and the staff's admin pages are a trickle that shedding would not relieve;
- a route may give some methods more patience, ``queue_patience={"POST": 3}``: that many
  times the limit. Requests that finish work already started (paying for a hold, releasing
  one, a gate scan) get 3: a fan with seats in hand can pay for them unless the process is
  stalled, yet a flood of made-up checkouts cannot wait forever. So do the waiting room's
  joins (already paced by nginx; a fan refused would lose their place in line) and a called
  fan's admission. Signups and logins get 4:
  bcrypt's cost is by design, and a burst of them waits its turn instead of failing. Every
  patience times the limit stays below nginx's ``proxy_read_timeout``, so the app refuses a
  request before nginx gives up on it (tests/unit/test_load_shedding.py checks it).

The check runs when the route is known and before traversal (``BeforeTraversal``): no
database work has been done for the request yet. Each refusal is a ``service-busy`` problem
with a ``Retry-After`` of one to a few seconds, spread at random so that refused fans do not
all come back in the same second, and gets its own line in the access log.
"""
import random
import time

from pyramid.events import BeforeTraversal

from ticketing import metrics
from ticketing.problems import ServiceBusy
from ticketing.proxy_clock import proxy_stamp

class QueuePatience:
    """Route predicate ``queue_patience={"POST": 3}``: how many times the wait limit the
    route's requests of each method may wait. It never filters: every request matches."""

    def __init__(self, patience, config):
        self.patience = {method.upper(): int(times) for method, times in patience.items()}

    def text(self):
        return f"queue_patience = {sorted(self.patience.items())}"

    phash = text

    def __call__(self, info, request):
        return True


def queue_patience(route, method):
    """How many times the wait limit ``method`` on ``route`` may wait (routes.py; default 1)."""
    for predicate in route.predicates:
        if isinstance(predicate, QueuePatience) and method in predicate.patience:
            return predicate.patience[method]
    return 1


class ShedLateRequests:
    """The ``BeforeTraversal`` subscriber: refuses an API request that waited too long."""

    def __init__(self, max_wait_seconds, clock=time.time, retry_after=None):
        self.max_wait_seconds = max_wait_seconds
        self.clock = clock
        # One second to the wait limit, at random: spreads the retries over the time the
        # queue takes to turn over.
        ceiling = max(2, round(max_wait_seconds))
        self.retry_after = retry_after or (lambda: random.randint(1, ceiling))

    def __call__(self, event):
        request = event.request
        route = request.matched_route
        if route is None or not route.name.startswith("api."):
            return
        if request.environ.get("retry.attempt", 0) > 0:
            return  # pyramid_retry's second attempt of a request that started in time
        stamped = proxy_stamp(request.environ)
        if stamped is None:
            return
        waited = self.clock() - stamped
        if waited <= self.max_wait_seconds:
            return
        if waited > queue_patience(route, request.method) * self.max_wait_seconds:
            retry_after = self.retry_after()
            metrics.count_shed(request)
            raise ServiceBusy(
                f"The box office is very busy: this request waited {waited:.1f} s for its turn and was not "
                f"started, so nothing changed. Retry in {retry_after} s (with the same Idempotency-Key, if it "
                "had one).",
                headers={"Retry-After": str(retry_after), "Cache-Control": "no-store"},
            )


def includeme(config):
    config.add_route_predicate("queue_patience", QueuePatience)
    max_wait_ms = config.get_settings().get("ticketing.max_queue_wait_ms") or 0
    if max_wait_ms > 0:
        config.add_subscriber(ShedLateRequests(max_wait_ms / 1000), BeforeTraversal)
