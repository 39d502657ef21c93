"""Fixed-window rate limits shared by every app process through PostgreSQL.

The counter is incremented in its own short transaction, outside the request's
transaction: a failed login aborts the request transaction, but its attempt must still count.
One upsert per check keeps it exact under concurrency (no read-then-write).
"""
import random
import time
from datetime import datetime, timezone

from sqlalchemy import text

from ticketing.problems import RateLimited
from ticketing.services.prepared import Prepared

# synchronous_commit off for this one transaction: a counter lost in a crash costs nothing,
# while waiting for the WAL flush would add a disk sync to every hold and checkout. Every key
# of a request (per IP, per user or e-mail) is counted in this one statement: one round trip.
_INCREMENT = Prepared(
    "rate_limit_increment",
    """
    INSERT INTO rate_limit_counters (key, window_start, hits)
    SELECT key, :window_start, 1 FROM unnest(CAST(:keys AS text[])) AS key
    ON CONFLICT (key, window_start)
    DO UPDATE SET hits = rate_limit_counters.hits + 1
    RETURNING key, hits
    """,
    {"keys": "text[]", "window_start": "timestamptz"},
    prefix="SET LOCAL synchronous_commit TO off;\n",
)

_PURGE = text("DELETE FROM rate_limit_counters WHERE window_start < now() - interval '1 day'")


def hit_all(engine, limits, window_seconds, now=None):
    """Count one attempt for every ``(key, limit)``; raise :class:`RateLimited` when any key
    is over its limit (every key is counted either way: an attempt is an attempt).

    ``engine``: the autocommit engine (``registry["db_autocommit_engine"]``, see
    models.get_autocommit_engine), whose connections commit every statement on its own."""
    limit_of = {}
    for key, limit in limits:
        key = key[:300]
        limit_of[key] = min(limit, limit_of.get(key, limit))
    if not limit_of:
        return {}
    now = now if now is not None else time.time()
    window_start = int(now // window_seconds) * window_seconds
    # Autocommit: the two statements of _INCREMENT are one implicit transaction, sent in one
    # round trip (no BEGIN and COMMIT of their own).
    # Keys sorted: two requests counting the same keys lock their rows in the same order.
    params = {"keys": sorted(limit_of), "window_start": datetime.fromtimestamp(window_start, timezone.utc)}
    with engine.connect() as conn:  # the autocommit engine: each statement commits
        hits = dict(_INCREMENT.execute(conn, params).all())
        if random.random() < 0.01:
            conn.execute(_PURGE)
    if any(hits[key] > limit for key, limit in limit_of.items()):
        raise RateLimited(window_start + window_seconds - now)
    return hits


def hit(engine, key, limit, window_seconds, now=None):
    """Count one attempt for ``key``; raise :class:`RateLimited` when over ``limit``."""
    return hit_all(engine, [(key, limit)], window_seconds, now)[key[:300]]
