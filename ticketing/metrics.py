"""Live figures for ops on a sale day, in Prometheus's format at ``GET /metrics`` (decision 0050).

Why: on the morning a final goes on sale, ops must answer within seconds how many purchases a
second the box office does, how long a hold takes at p99, how many requests wait or are shed,
how full the database pool is, and how many seats and waiting fans are left. Logs cannot
answer that in time; a scraped time series can.

What is measured, and where:
- per request (the tween below, outermost but one): count and latency by *route name* (never
  by URL: one series per route, not per match or order id), requests in flight, and how long
  the request waited in front of the app (nginx's ``X-Request-Start`` stamp);
- requests shed by ``load_shedding.py`` (it calls :func:`count_shed`);
- the database pools' checked-out and overflow connections, kept by SQLAlchemy pool events;
- business events (holds created/released/expired, purchases, seats sold, refunds, gate
  scans), counted by the services with :func:`count_after_commit`: a count is applied only
  once the SQLAlchemy session has committed, so the counters agree with the database (a
  request that failed, or that pyramid_retry ran twice, counts once or not at all);
- seats per on-sale match and waiting-room figures, read at scrape time by
  :class:`SaleCollector` with one grouped query, cached ``metrics.sale_refresh_seconds``.

Several app processes run per host (deploy/README.md), so prometheus_client runs in its
multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set (as deploy/ticketing@.service does):
each process writes its samples to files in that directory, and ``/metrics`` on *any* process
of the host answers the host's totals. Without it (development, the in-process tests) the
process's own registry is served. ``metrics.enabled = false`` turns all of it off (the
benchmark measures the difference).
"""
import logging
import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from pyramid.settings import asbool
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ticketing.proxy_clock import proxy_stamp

#: Seconds: a hold is a few database round trips (~10 ms), a page up to the shedding limit.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)

REQUESTS = Counter("ticketing_http_requests", "Requests answered, by route name, method and status.",
                   ["route", "method", "status"])
LATENCY = Histogram("ticketing_http_request_duration_seconds", "Time the app spent on a request, by route name.",
                    ["route", "method"], buckets=LATENCY_BUCKETS)
IN_FLIGHT = Gauge("ticketing_http_requests_in_flight", "Requests being served right now.",
                  multiprocess_mode="livesum")
QUEUE_WAIT = Histogram("ticketing_http_queue_wait_seconds",
                       "How long a request waited between nginx and a free app thread (X-Request-Start).",
                       buckets=LATENCY_BUCKETS)
SHED = Counter("ticketing_http_requests_shed", "API requests refused unstarted because they waited too long.",
               ["route"])
POOL_CHECKED_OUT = Gauge("ticketing_db_pool_checked_out", "Database connections in use, by pool.",
                         ["pool"], multiprocess_mode="livesum")
POOL_OVERFLOW = Gauge("ticketing_db_pool_overflow", "Connections open beyond the pool's size, by pool.",
                      ["pool"], multiprocess_mode="livesum")
POOL_SIZE = Gauge("ticketing_db_pool_size", "Connections the pool keeps open (overflow comes on top).",
                  ["pool"], multiprocess_mode="livesum")
HOLDS_CREATED = Counter("ticketing_holds_created", "Holds created (committed).")
HOLDS_RELEASED = Counter("ticketing_holds_released", "Holds let go before checkout, by reason.", ["reason"])
HOLDS_EXPIRED = Counter("ticketing_holds_expired", "Lapsed holds tidied by the sweeper (committed).")
PURCHASES = Counter("ticketing_purchases", "Orders paid (committed).")
SEATS_SOLD = Counter("ticketing_seats_sold", "Tickets issued by purchases (committed).")
REFUNDS = Counter("ticketing_refunds", "Orders cancelled and refunded (committed), by who cancelled.", ["by"])
GATE_SCANS = Counter("ticketing_gate_scans", "Gate scans, by result.", ["result"])

log = logging.getLogger(__name__)

_PENDING = "ticketing.metrics.pending"


def _enabled_for(request):
    """Metrics are on unless the app serving ``request`` turned them off; work outside a
    request (the command line's scripts) is counted."""
    registry = getattr(request, "registry", None)
    return registry is None or registry.settings.get("metrics.enabled", True)


def count_after_commit(session, counter, amount=1, **labels):
    """Count ``amount`` on ``counter`` once ``session`` commits; never if it rolls back.

    Services call this next to the write it counts, so the count and the row share a fate."""
    if _enabled_for(session.info.get("request")):
        session.info.setdefault(_PENDING, []).append((counter, amount, labels))


@event.listens_for(Session, "after_commit")
def _apply_pending(session):
    for counter, amount, labels in session.info.pop(_PENDING, ()):
        (counter.labels(**labels) if labels else counter).inc(amount)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session):
    session.info.pop(_PENDING, None)


def count_shed(request):
    if _enabled_for(request):
        SHED.labels(route=request.matched_route.name).inc()


def count_gate_scan(session, result):
    """A rejected scan changes nothing, so it is counted at once (``admitted`` is counted after
    commit by the service)."""
    if _enabled_for(session.info.get("request")):
        GATE_SCANS.labels(result=result).inc()


def metrics_tween_factory(handler, registry):
    """Count and time every request by its route name; outermost but the request-id tween."""
    if not registry.settings.get("metrics.enabled", True):
        return handler

    def metrics_tween(request):
        started = time.perf_counter()
        stamped = proxy_stamp(request.environ)
        if stamped is not None:
            QUEUE_WAIT.observe(max(0.0, time.time() - stamped))
        IN_FLIGHT.inc()
        status = "500"
        try:
            response = handler(request)
            status = str(response.status_code)
            return response
        finally:
            IN_FLIGHT.dec()
            route = request.matched_route.name if request.matched_route is not None else "unmatched"
            REQUESTS.labels(route=route, method=request.method, status=status).inc()
            LATENCY.labels(route=route, method=request.method).observe(time.perf_counter() - started)

    return metrics_tween


def watch_pool(engine, name):
    """Keep ``ticketing_db_pool_*{pool=name}`` up to date from the pool's own events."""
    pool = engine.pool
    POOL_SIZE.labels(pool=name).set(pool.size() if hasattr(pool, "size") else 0)

    checked_out = POOL_CHECKED_OUT.labels(pool=name)
    overflow = POOL_OVERFLOW.labels(pool=name)

    def _overflow(returning=False):
        if not hasattr(pool, "overflow"):
            return
        # Negative while the pool has not opened all its connections yet. At "checkin" the
        # connection is not back yet: if the pool is full it will be closed, one less overflow.
        closing = returning and pool.checkedin() >= pool.size()
        overflow.set(max(0, pool.overflow() - closing))

    # Counted by the events themselves: at "checkin" the pool still counts the connection as
    # out (the event comes before it is put back), so reading checkedout() there is one high.
    def _checkout(*args):
        checked_out.inc()
        _overflow()

    def _checkin(*args):
        checked_out.dec()
        _overflow(returning=True)

    event.listen(engine, "checkout", _checkout)
    event.listen(engine, "checkin", _checkin)


# Seats of the on-sale matches by status (a held seat whose hold lapsed counts as
# "lapsed": the next buyer may take it), and each enabled waiting room's queue. Counted on
# the partial indexes where the status has one; run at most once per refresh interval.
_SALE_FIGURES = text(
    """
    SELECT ms.match_id,
           CASE WHEN ms.status = 'held' AND ms.held_until <= now() THEN 'lapsed' ELSE ms.status END AS status,
           count(*) AS seats
    FROM matches m JOIN match_seats ms ON ms.match_id = m.id
    WHERE m.status = 'on_sale'
    GROUP BY 1, 2
    """
)
_QUEUE_FIGURES = text(
    """
    SELECT r.match_id, r.called, r.admit_per_minute, r.paused,
           (SELECT count(*) FROM queue_places q WHERE q.match_id = r.match_id AND q.called_at IS NULL) AS waiting
    FROM waiting_rooms r JOIN matches m ON m.id = r.match_id
    WHERE r.enabled AND m.status = 'on_sale'
    """
)


class SaleCollector:
    """Seats available/held/sold per on-sale match and the waiting rooms' queues, read from
    the database at scrape time. The figures are kept ``refresh_seconds``: Prometheus scrapes
    every process of every host, and a stadium's seats need not be counted more often than
    the dashboards refresh."""

    def __init__(self, engine, refresh_seconds=15.0, clock=time.monotonic):
        self.engine, self.refresh_seconds, self.clock = engine, refresh_seconds, clock
        self._read_at, self._seats, self._queues = None, [], []

    def _refresh(self):
        now = self.clock()
        if self._read_at is not None and now - self._read_at < self.refresh_seconds:
            return
        with self.engine.connect() as conn:
            self._seats = conn.execute(_SALE_FIGURES).all()
            self._queues = conn.execute(_QUEUE_FIGURES).all()
        self._read_at = now

    def collect(self):
        ok = GaugeMetricFamily("ticketing_sale_figures_ok",
                               "1 when the last read of the seat and queue figures succeeded.")
        try:
            self._refresh()
            ok.add_metric([], 1)
        except DBAPIError:
            # The database is down (a failover): the request and pool metrics must still be
            # served, which is when they matter most; the figures are the last ones read.
            log.warning("metrics: could not read the seat and queue figures", exc_info=True)
            ok.add_metric([], 0)
        seats = GaugeMetricFamily("ticketing_match_seats", "Seats of an on-sale match, by status.",
                                  labels=["match_id", "status"])
        for row in self._seats:
            seats.add_metric([str(row.match_id), row.status], row.seats)
        waiting = GaugeMetricFamily("ticketing_waiting_room_waiting", "Fans in line, not called yet.",
                                    labels=["match_id"])
        called = GaugeMetricFamily("ticketing_waiting_room_called", "Fans called so far (rate() is the pace).",
                                   labels=["match_id"])
        pace = GaugeMetricFamily("ticketing_waiting_room_admit_per_minute", "The room's configured pace.",
                                 labels=["match_id"])
        paused = GaugeMetricFamily("ticketing_waiting_room_paused", "1 while staff hold the line.",
                                   labels=["match_id"])
        for row in self._queues:
            label = [str(row.match_id)]
            waiting.add_metric(label, row.waiting)
            called.add_metric(label, row.called)
            pace.add_metric(label, row.admit_per_minute)
            paused.add_metric(label, int(row.paused))
        return [ok, seats, waiting, called, pace, paused]


def multiprocess_dir():
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def forget_dead_processes(directory):
    """Drop the live gauges (in flight, pool) of processes of this host that are gone (a
    restart, a crash), so they do not count for ever; their counters stay, as they must."""
    pids = set()
    for name in os.listdir(directory):
        if name.startswith("gauge_live") and name.endswith(".db"):
            pid = name[: -len(".db")].rpartition("_")[2]
            if pid.isdigit():
                pids.add(int(pid))
    for pid in pids - {os.getpid()}:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, directory)
        except PermissionError:
            pass  # alive, someone else's


def render(sale_collector):
    """The exposition text: the host's totals in multiprocess mode, else this process's."""
    directory = multiprocess_dir()
    if directory:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
    else:
        registry = REGISTRY
    body = generate_latest(registry)
    if sale_collector is not None:
        extra = CollectorRegistry()
        extra.register(sale_collector)
        body += generate_latest(extra)
    return body, CONTENT_TYPE_LATEST


def includeme(config):
    settings = config.get_settings()
    enabled = asbool(os.environ.get("TICKETING_METRICS", settings.get("metrics.enabled", True)))
    settings["metrics.enabled"] = enabled
    if not enabled:
        return
    directory = multiprocess_dir()
    if directory:
        forget_dead_processes(directory)
    watch_pool(config.registry["db_engine"], "session")
    watch_pool(config.registry["db_autocommit_engine"], "autocommit")
    refresh = float(settings.get("metrics.sale_refresh_seconds", 15))
    config.registry["metrics_sale_collector"] = SaleCollector(config.registry["db_autocommit_engine"], refresh)
