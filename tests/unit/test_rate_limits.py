"""Rate-limit counters (ticketing/services/rate_limits.py): every key of a request counted
together (one statement), exactly, committed on the autocommit pool even when refused; with
an Idempotency-Key, counted in the key's claim statement."""
import uuid

import pytest
from sqlalchemy import text

import ticketing.settings
from ticketing.models import get_autocommit_engine
from ticketing.problems import RateLimited, ValidationFailed
from ticketing.services import idempotency, rate_limits


@pytest.fixture
def autocommit_engine(settings):
    engine = get_autocommit_engine(ticketing.settings.normalize_settings(settings))
    yield engine
    engine.dispose()


def test_every_key_is_counted_and_any_key_over_its_limit_refuses(autocommit_engine, engine):
    ip, user = f"test:ip:{uuid.uuid4().hex}", f"test:user:{uuid.uuid4().hex}"
    now = 1_800_000_000.0
    assert rate_limits.hit_all(autocommit_engine, [(ip, 3), (user, 2)], 60, now=now) == {ip: 1, user: 1}
    assert rate_limits.hit_all(autocommit_engine, [(ip, 3), (user, 2)], 60, now=now + 1) == {ip: 2, user: 2}
    with pytest.raises(RateLimited) as refused:
        rate_limits.hit_all(autocommit_engine, [(ip, 3), (user, 2)], 60, now=now + 2)
    assert 0 < refused.value.retry_after <= 60
    # The refused attempt was counted on both keys, and committed (another connection sees it).
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT key, hits FROM rate_limit_counters WHERE key IN (:a, :b)"),
                                 {"a": ip, "b": user}).all())
    assert rows == {ip: 3, user: 3}
    # A new window starts afresh; a key given twice is counted once, under its lower limit.
    assert rate_limits.hit_all(autocommit_engine, [(ip, 5), (ip, 1)], 60, now=now + 60) == {ip: 1}
    with pytest.raises(RateLimited):
        rate_limits.hit_all(autocommit_engine, [(ip, 5), (ip, 1)], 60, now=now + 61)
    assert rate_limits.hit_all(autocommit_engine, [], 60) == {}
    assert rate_limits.hit(autocommit_engine, user, 10, 60, now=now + 120) == 1


def _claimed(engine, user_id, key):
    with engine.connect() as conn:
        return conn.execute(text("SELECT state FROM idempotency_keys WHERE user_id = :u AND key = :k"),
                            {"u": user_id, "k": key}).scalar_one_or_none()


def test_a_count_made_with_an_idempotency_claim_refuses_without_claiming(autocommit_engine, engine, user_factory):
    """idempotency.begin(count=...) counts and claims in one statement: a request over a limit
    leaves its key free (the client retries it unchanged in the next window), one within the
    limits claims it, and a replay or a malformed key is counted too."""
    fan_id = user_factory().user["id"]
    user = f"test:user:{uuid.uuid4().hex}"
    now = 1_800_000_000.0
    fingerprint = idempotency.request_fingerprint("POST", "/x", b"{}")

    def begin(key, at):
        return idempotency.begin(autocommit_engine, fan_id, key, "checkout", fingerprint,
                                 rate_limits.Count([(user, 2)], 60, now=at))

    assert isinstance(begin("k1", now), idempotency.Claim) and _claimed(engine, fan_id, "k1") == "running"
    with engine.begin() as conn:  # the request ran and recorded its response
        conn.execute(text("UPDATE idempotency_keys SET state = 'done', response_status = 201, "
                          "response_body = '{\"id\": 7}' WHERE user_id = :u AND key = 'k1'"), {"u": fan_id})
    replay = begin("k1", now + 1)
    assert (replay.status, replay.body) == (201, {"id": 7})
    with pytest.raises(RateLimited):
        begin("k2", now + 2)
    assert _claimed(engine, fan_id, "k2") is None
    with pytest.raises(ValidationFailed):  # the next window: counted, then refused for its key
        begin("bad\nkey", now + 60)
    assert isinstance(begin("k2", now + 61), idempotency.Claim) and _claimed(engine, fan_id, "k2") == "running"
    with engine.connect() as conn:
        hits = conn.execute(text("SELECT hits FROM rate_limit_counters WHERE key = :k ORDER BY window_start"),
                            {"k": user}).scalars().all()
    assert hits == [3, 2]
