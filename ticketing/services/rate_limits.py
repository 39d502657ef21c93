"""Fixed-window rate limits shared by every app process through PostgreSQL.

The counter is incremented in its own short transaction, outside the request's
transaction: a failed login aborts the request transaction, but its attempt must still count.
One upsert per check keeps it exact under concurrency (no read-then-write).

Every counted request tells the client where it stands with the IETF ``RateLimit-Policy``
and ``RateLimit`` fields (draft-ietf-httpapi-ratelimit-headers-09): one named policy per
limit (``"holds-per-user";q=10;w=60``) and what is left of it (``"holds-per-user";r=9;t=42``),
on successes and on the 429 alike (:meth:`Count.header_fields`, decision 0046).
"""
import math
import random
import time
from datetime import datetime, timezone

from sqlalchemy import text

from ticketing.problems import RateLimited
from ticketing.services.prepared import Prepared

# The count of every key of a request, one upsert (also run inside the idempotency claim's
# statement, ticketing/services/idempotency.py, so a request with a key pays one round trip).
COUNT = """
    INSERT INTO rate_limit_counters (key, window_start, hits)
    SELECT key, :window_start, 1 FROM unnest(CAST(:keys AS text[])) AS key
    ON CONFLICT (key, window_start)
    DO UPDATE SET hits = rate_limit_counters.hits + 1
    RETURNING key, hits
"""

# synchronous_commit off for this one transaction: a counter lost in a crash costs nothing,
# while waiting for the WAL flush would add a disk sync to every hold and checkout. Every key
# of a request (per IP, per user or e-mail) is counted in this one statement: one round trip.
_INCREMENT = Prepared(
    "rate_limit_increment", COUNT, {"keys": "text[]", "window_start": "timestamptz"},
    prefix="SET LOCAL synchronous_commit TO off;\n",
)

_PURGE = text("DELETE FROM rate_limit_counters WHERE window_start < now() - interval '1 day'")


class Count:
    """One request's attempt, to be counted against every ``(key, limit)`` in one statement:
    :meth:`hit` alone, or inside another statement that takes :attr:`params` and hands the
    hits back to :meth:`judge`. Every key is counted either way: an attempt is an attempt."""

    def __init__(self, limits, window_seconds, now=None):
        self.limit_of = {}
        for key, limit in limits:
            key = key[:300]
            self.limit_of[key] = min(limit, self.limit_of.get(key, limit))
        self.now = now if now is not None else time.time()
        self.window_seconds = window_seconds
        self.window_start = int(self.now // window_seconds) * window_seconds
        self.hits = None  # set by judge(): the counts after this attempt

    @staticmethod
    def policy_name(key):
        """``holds:user:42`` -> ``holds-per-user``: the limit, not whose counter it is (the
        partition stays private: an IP address or e-mail address is not echoed back)."""
        scope, _, rest = key.partition(":")
        kind = rest.partition(":")[0]
        return f"{scope}-per-{kind}" if kind else scope

    def header_fields(self):
        """``(policies, remaining)``: this count's RateLimit-Policy and RateLimit list members,
        empty before :meth:`judge` or when no limit applies."""
        if not self.hits:
            return [], []
        reset = max(0, math.ceil(self.window_start + self.window_seconds - self.now))
        policies, remaining = [], []
        for key in sorted(self.limit_of):
            name, limit = self.policy_name(key), self.limit_of[key]
            policies.append(f'"{name}";q={limit};w={self.window_seconds}')
            remaining.append(f'"{name}";r={max(0, limit - self.hits.get(key, 0))};t={reset}')
        return policies, remaining

    def __bool__(self):
        return bool(self.limit_of)

    @property
    def params(self):
        # Keys sorted: two requests counting the same keys lock their rows in the same order.
        keys = sorted(self.limit_of)
        return {"keys": keys, "limits": [self.limit_of[key] for key in keys],
                "window_start": datetime.fromtimestamp(self.window_start, timezone.utc)}

    def judge(self, hits):
        """Raise :class:`RateLimited` when any key is over its limit; else return ``hits``."""
        self.hits = hits
        if any(hits[key] > limit for key, limit in self.limit_of.items()):
            raise RateLimited(self.window_start + self.window_seconds - self.now,
                              headers=rate_limit_headers([self]))
        return hits

    def purge_now_and_then(self, conn):
        if random.random() < 0.01:
            conn.execute(_PURGE)

    def hit(self, engine):
        """Count on ``engine``: the autocommit engine (``registry["db_autocommit_engine"]``,
        see models.get_autocommit_engine), whose connections commit every statement."""
        if not self:
            return {}
        # Autocommit: the two statements of _INCREMENT are one implicit transaction, sent in
        # one round trip (no BEGIN and COMMIT of their own).
        with engine.connect() as conn:  # the autocommit engine: each statement commits
            hits = dict(_INCREMENT.execute(conn, self.params).all())
            self.purge_now_and_then(conn)
        return self.judge(hits)


def rate_limit_headers(counts):
    """The ``RateLimit-Policy`` and ``RateLimit`` fields of a request's counts (a dict, empty
    when none applied)."""
    policies, remaining = [], []
    for count in counts:
        more_policies, more_remaining = count.header_fields()
        policies += more_policies
        remaining += more_remaining
    if not policies:
        return {}
    return {"RateLimit-Policy": ", ".join(policies), "RateLimit": ", ".join(remaining)}


def hit_all(engine, limits, window_seconds, now=None):
    """Count one attempt for every ``(key, limit)``; raise :class:`RateLimited` when any key
    is over its limit (see :class:`Count`); return the hits. :func:`count_all` gives the
    :class:`Count` itself, for its RateLimit header fields."""
    return count_all(engine, limits, window_seconds, now).hits


def count_all(engine, limits, window_seconds, now=None):
    """As :func:`hit_all`, returning the judged :class:`Count`."""
    count = Count(limits, window_seconds, now)
    count.hits = count.hit(engine)
    return count


def hit(engine, key, limit, window_seconds, now=None):
    """Count one attempt for ``key``; raise :class:`RateLimited` when over ``limit``."""
    return hit_all(engine, [(key, limit)], window_seconds, now)[key[:300]]
