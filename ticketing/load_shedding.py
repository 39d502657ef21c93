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
passes the request on (deploy/nginx.conf). The stamp is trusted only on a request that came
through the trusted proxy: waitress, configured with ``trusted_proxy``, keeps the
``X-Forwarded-For`` header of a request from that address and removes it from any other
(``clear_untrusted_proxy_headers``), so a request that still carries it was sent by nginx,
which always replaces the client's ``X-Request-Start`` with its own. **Without a proxy stamp
there is no shedding**: a process run on its own serves every request however late.

What it sheds, and what last (declared in ``routes.py``, never by a copy of the paths):
- only API routes (``api.*``): ``/healthz`` must keep telling the load balancer the process
  is alive, and the staff's admin pages are a trickle that shedding would not relieve;
- routes declared ``finishes_work=<methods>`` (paying for a hold, releasing one, a gate scan)
  get ``FINISHING_WORK_PATIENCE`` times the limit: a fan with seats in hand can pay for them
  unless the process is stalled, but a flood of made-up checkouts cannot wait forever.

The check runs when the route is known and before traversal (``BeforeTraversal``): no
database work has been done for the request yet. Each refusal is a ``service-busy`` problem
with a ``Retry-After`` of one to a few seconds, spread at random so that refused fans do not
all come back in the same second, and gets its own line in the access log.
"""
import random
import time

from pyramid.events import BeforeTraversal

from ticketing.problems import ServiceBusy

#: Finishing work is refused only after waiting this many times the limit.
FINISHING_WORK_PATIENCE = 3


class FinishesWork:
    """Route predicate ``finishes_work=("POST",)``: marks the route's requests of these
    methods as finishing work already started. It never filters: every request matches."""

    def __init__(self, methods, config):
        methods = (methods,) if isinstance(methods, str) else methods
        self.methods = frozenset(method.upper() for method in methods)

    def text(self):
        return f"finishes_work = {sorted(self.methods)}"

    phash = text

    def __call__(self, info, request):
        return True


def finishes_work(route, method):
    """Whether ``method`` on ``route`` was declared finishing work in routes.py."""
    return any(isinstance(p, FinishesWork) and method in p.methods for p in route.predicates)


def proxy_stamp(environ):
    """Seconds since the epoch at which the trusted proxy passed the request on, or None."""
    if "HTTP_X_FORWARDED_FOR" not in environ:  # not through waitress's trusted proxy
        return None
    stamp = environ.get("HTTP_X_REQUEST_START", "")
    if stamp.startswith("t="):
        stamp = stamp[2:]
    try:
        return float(stamp)
    except ValueError:
        return None


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
        stamped = proxy_stamp(request.environ)
        if stamped is None:
            return
        waited = self.clock() - stamped
        if waited <= self.max_wait_seconds:
            return
        patience = FINISHING_WORK_PATIENCE if finishes_work(route, request.method) else 1
        if waited > patience * self.max_wait_seconds:
            retry_after = self.retry_after()
            raise ServiceBusy(
                f"The box office is very busy: this request waited {waited:.1f} s for its turn and was not "
                f"started, so nothing changed. Retry in {retry_after} s (with the same Idempotency-Key, if it "
                "had one).",
                headers={"Retry-After": str(retry_after), "Cache-Control": "no-store"},
            )


def includeme(config):
    config.add_route_predicate("finishes_work", FinishesWork)
    max_wait_ms = config.get_settings().get("ticketing.max_queue_wait_ms") or 0
    if max_wait_ms > 0:
        config.add_subscriber(ShedLateRequests(max_wait_ms / 1000), BeforeTraversal)
