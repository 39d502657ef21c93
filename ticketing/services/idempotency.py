"""``Idempotency-Key``: a retried request never creates a second hold, order or top-up.

Protocol (per user and key, kept 24 hours):
1. The key is claimed on its own autocommit connection (``INSERT ... ON CONFLICT DO
   NOTHING``), so a concurrent duplicate sees it at once and gets 409 "still running".
2. The request runs; on success its response is stored on the key row *inside the request's
   transaction*, so "effects committed" and "response recorded" are one atomic fact.
3. If the request fails or its transaction aborts, the claim is deleted so the client may
   retry the same key. A claim left by a crashed process is taken over after
   ``STALE_AFTER_SECONDS``; one that reached this server as a standby, before a failover
   promoted it, at once: its request ran against the primary that died, and so did the
   chance to release it (decision 0036).
4. A claim is known by its ``created_at``: recording and releasing both name it. A request so
   slow that a retry took its key over can then neither overwrite the retry's response nor
   delete its claim; its record fails, and that aborts its transaction, effects and all.
A replay returns the stored status and body with ``Idempotent-Replayed: true``; the same key
with a different body (or on another endpoint) is a 422.
"""
import hashlib
import json
import logging

from sqlalchemy import text

from ticketing.problems import Conflict, ValidationFailed, field_error
from ticketing.services import rate_limits
from ticketing.services.prepared import Prepared

log = logging.getLogger(__name__)

RETENTION = "24 hours"
STALE_AFTER_SECONDS = 60
MAX_KEY_LENGTH = 200

# synchronous_commit off for the claim alone: it only matters if the request's effects are
# durable, and their (synchronous) commit flushes the WAL past the claim's commit record. A
# claim lost in a crash leaves nothing behind: the key is free and a retry runs afresh. The
# two statements are one implicit transaction on the autocommit connection, one round trip.
_CLAIM = Prepared(
    "idempotency_claim",
    """
    INSERT INTO idempotency_keys (user_id, key, scope, request_hash, state)
    VALUES (:user_id, :key, :scope, :hash, 'running')
    ON CONFLICT (user_id, key) DO NOTHING
    RETURNING created_at
    """,
    {"user_id": "bigint", "key": "text", "scope": "text", "hash": "bytea"},
    prefix="SET LOCAL synchronous_commit TO off;\n",
)

# The request's rate-limit count and the claim in one statement, one round trip (a hold or
# checkout with a key would otherwise pay two, each on its own pooled connection). The claim
# is only made when no key is over its limit: a refused request leaves the key free, so the
# client retries it unchanged once the window passes. ``over`` reads the count's RETURNING
# rows, so the claim is decided after every counter row is written (and locked).
_COUNT_AND_CLAIM = Prepared(
    "idempotency_count_and_claim",
    f"""
    WITH counted AS ({rate_limits.COUNT}
    ), over AS (
        SELECT 1 FROM counted
        JOIN unnest(CAST(:keys AS text[]), CAST(:limits AS integer[])) AS limits (key, lim) USING (key)
        WHERE counted.hits > limits.lim
    ), claimed AS (
        INSERT INTO idempotency_keys (user_id, key, scope, request_hash, state)
        SELECT :user_id, :key, :scope, :hash, 'running' WHERE NOT EXISTS (SELECT 1 FROM over)
        ON CONFLICT (user_id, key) DO NOTHING
        RETURNING created_at
    )
    SELECT hits.keys, hits.hits, (SELECT created_at FROM claimed) AS claimed_at
    FROM (SELECT array_agg(key) AS keys, array_agg(hits) AS hits FROM counted) AS hits
    """,
    {"keys": "text[]", "limits": "integer[]", "window_start": "timestamptz",
     "user_id": "bigint", "key": "text", "scope": "text", "hash": "bytea"},
    prefix="SET LOCAL synchronous_commit TO off;\n",
)

# A claim is stale after STALE_AFTER_SECONDS, or when it is no younger than the last
# transaction this server replayed as a standby: pg_last_xact_replay_timestamp() is NULL on a
# server that was never a standby (crash recovery leaves it NULL too), and after a promotion
# stays at the commit time, on the old primary's clock, of the last transaction received
# from it. Every claim replicated from there was made no later, on that same clock. Taking
# such a claim over is safe even if its request were still alive: only the claim's current
# holder can record (point 4). Without the rule, a fan retrying a checkout that the failover
# cut short is told "still being processed" for a minute (tests/failover).
_STALE = f"""(created_at < now() - make_interval(secs => {STALE_AFTER_SECONDS})
              OR created_at <= coalesce(pg_last_xact_replay_timestamp(), '-infinity'))"""

_EXISTING = text(
    f"""
    SELECT scope, request_hash, state, response_status, response_body,
           created_at < now() - interval '{RETENTION}' AS expired,
           {_STALE} AS stale
    FROM idempotency_keys WHERE user_id = :user_id AND key = :key
    """
)

# A claim's identity is its created_at, the claiming transaction's start: a take-over sets it
# to its own now(), later than the stale claim it replaces (a minute later, or made on the
# server that replaced the one the stale claim was made on), and a new claim after a release
# starts after that release committed, so no two claims of a key share one.
_TAKE_OVER = text(
    f"""
    UPDATE idempotency_keys
       SET scope = :scope, request_hash = :hash, state = 'running', created_at = now(),
           response_status = NULL, response_body = NULL
     WHERE user_id = :user_id AND key = :key
       AND (created_at < now() - interval '{RETENTION}' OR (state = 'running' AND {_STALE}))
    RETURNING created_at
    """
)

_RELEASE = text(
    "DELETE FROM idempotency_keys "
    "WHERE user_id = :user_id AND key = :key AND state = 'running' AND created_at = :claimed_at"
)

_RECORD = Prepared(
    "idempotency_record",
    """
    UPDATE idempotency_keys SET state = 'done', response_status = :status, response_body = CAST(:body AS jsonb)
    WHERE user_id = :user_id AND key = :key AND state = 'running' AND created_at = :claimed_at
    RETURNING 1
    """,
    {"status": "integer", "body": "text", "user_id": "bigint", "key": "text", "claimed_at": "timestamptz"},
)

_PURGE = text(f"DELETE FROM idempotency_keys WHERE created_at < now() - interval '{RETENTION}'")


class Replay:
    """A stored response to send again."""

    def __init__(self, status, body):
        self.status = status
        self.body = body


class Claim:
    """This request holds the key: run it, then ``record`` or ``release`` with ``claimed_at``."""

    def __init__(self, claimed_at):
        self.claimed_at = claimed_at


class ClaimTakenOver(Conflict):
    slug, title = "idempotency-key-taken-over", "The request took too long"


def request_fingerprint(method, path, body_bytes):
    try:
        canonical = json.dumps(json.loads(body_bytes or b"null"), sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError):  # not JSON (or nested past Python's limit): the bytes as sent
        canonical = body_bytes.decode("utf-8", "replace")
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode("utf-8")).digest()


def validate_key(key):
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(
            "The Idempotency-Key header is not valid.",
            errors=[field_error("Idempotency-Key", f"1 to {MAX_KEY_LENGTH} printable characters")],
        )


def begin(engine, user_id, key, scope, request_hash, count=None):
    """Claim ``key``: a :class:`Claim` when this request should run, or a :class:`Replay`.

    ``count``: the request's :class:`~ticketing.services.rate_limits.Count`, counted in the
    claim's statement; over a limit this raises ``RateLimited`` and claims nothing.
    ``engine`` here and in :func:`release` and :func:`purge`: the autocommit engine
    (``registry["db_autocommit_engine"]``), whose connections commit every statement."""
    try:
        validate_key(key)
    except ValidationFailed:
        if count:
            count.hit(engine)  # an attempt is an attempt, even with a malformed key
        raise
    params = {"user_id": user_id, "key": key, "scope": scope, "hash": request_hash}
    with engine.connect() as conn:  # the autocommit engine: each statement commits
        if count:
            count.purge_now_and_then(conn)  # before the claim: a failure here leaves no claim behind
            counted = _COUNT_AND_CLAIM.execute(conn, {**params, **count.params}).one()
            count.judge(dict(zip(counted.keys, counted.hits)))
            if counted.claimed_at is not None:
                return Claim(counted.claimed_at)
        else:
            claimed = _CLAIM.execute(conn, params).first()
            if claimed is not None:
                return Claim(claimed.created_at)
        existing = conn.execute(_EXISTING, params).one_or_none()
        if existing is None or existing.expired or (existing.state == "running" and existing.stale):
            if existing is None:
                claimed = _CLAIM.execute(conn, params).first()
            else:
                claimed = conn.execute(_TAKE_OVER, params).first()
            if claimed is not None:
                return Claim(claimed.created_at)
            existing = conn.execute(_EXISTING, params).one()
    if bytes(existing.request_hash) != request_hash:
        raise ValidationFailed(
            "This Idempotency-Key was already used with a different request.",
            errors=[field_error("Idempotency-Key", "reused with a different body or endpoint")],
        )
    if existing.state == "running":
        raise Conflict("A request with this Idempotency-Key is still being processed; retry shortly.",
                       headers={"Retry-After": "1"})
    return Replay(existing.response_status, existing.response_body)


def record(dbsession, user_id, key, claim, status, body):
    """Store the response (``body``: its JSON text) in the request's own transaction, atomic
    with its effects.

    Raises :class:`ClaimTakenOver` when the claim is no longer this request's (a retry took
    the key over while it ran): raising aborts the transaction, so the key's effects happen
    once, the retry's."""
    recorded = _RECORD.execute(dbsession, {"user_id": user_id, "key": key, "claimed_at": claim.claimed_at,
                                           "status": status, "body": body}).first()
    if recorded is None:
        raise ClaimTakenOver(
            "This request ran so long that a retry with the same Idempotency-Key took over; "
            "nothing of this one was kept. Send the key again to get the retry's response.",
            headers={"Retry-After": "1"})


def release(engine, user_id, key, claim):
    """Forget a claim whose request failed, so the client can retry with the same key (only
    this claim: a retry's claim of the same key stays)."""
    try:
        with engine.connect() as conn:  # the autocommit engine: each statement commits
            conn.execute(_RELEASE, {"user_id": user_id, "key": key, "claimed_at": claim.claimed_at})
    except Exception:  # pragma: no cover - the claim then goes stale and is taken over
        log.exception("could not release idempotency key")


def purge(engine):
    with engine.connect() as conn:  # the autocommit engine: each statement commits
        return conn.execute(_PURGE).rowcount
