"""Rate-limit counters (ticketing/services/rate_limits.py): every key of a request counted
together (one statement), exactly, committed on the autocommit pool even when refused."""
import uuid

import pytest
from sqlalchemy import text

import ticketing.settings
from ticketing.models import get_autocommit_engine
from ticketing.problems import RateLimited
from ticketing.services import rate_limits


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
