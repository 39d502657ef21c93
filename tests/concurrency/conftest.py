"""Helpers for races: many funded customers at once, and a starting gun for threads."""
import threading
import uuid
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from ticketing.services import passwords, tokens
from ticketing.settings import normalize_settings

from ..conftest import ApiClient

_HASH = passwords.hash_password("pitch-side-42", rounds=4)


@pytest.fixture
def customers(testapp, engine, settings):
    """``customers(n, balance)`` -> n ApiClients with funded wallets, created in bulk SQL.

    They stand for fans who signed up long ago and confirmed their address, so they may
    also give tickets away and withdraw (decision 0056)."""
    token_settings = tokens.TokenSettings(normalize_settings(settings))

    def make(count, balance=100_000):
        with engine.begin() as conn:
            ids = conn.execute(
                text(
                    "INSERT INTO users (email, full_name, password_hash, role, email_verified_at) "
                    "SELECT 'racer-' || g || '-' || md5(random()::text) || '@example.com', 'Racer ' || g, :h, "
                    "'customer', now() "
                    "FROM generate_series(1, :n) AS g RETURNING id"
                ),
                {"h": _HASH, "n": count},
            ).scalars().all()
            if balance:
                conn.execute(
                    text("INSERT INTO wallets (user_id, balance, currency) SELECT unnest(CAST(:ids AS bigint[])), :b, 'EUR'"),
                    {"ids": ids, "b": balance},
                )
                conn.execute(
                    text(
                        "INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, currency, reason) "
                        "SELECT unnest(CAST(:ids AS bigint[])), 'top_up', :b, :b, 'EUR', 'test funding'"
                    ),
                    {"ids": ids, "b": balance},
                )

        class _User:
            def __init__(self, user_id):
                self.id, self.role = user_id, "customer"

        return [ApiClient(testapp, tokens.issue_access_token(token_settings, _User(i), uuid.uuid4()), {"id": i}) for i in ids]

    return make


def race(functions, workers=32):
    """Run every callable at (nearly) the same instant; return their results in order."""
    start = threading.Event()

    def run(function):
        start.wait(timeout=30)
        return function()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run, function) for function in functions]
        start.set()
        return [future.result() for future in futures]


def wait_for_a_lock_wait(engine, timeout=10):
    """Return once some session of the test database waits on a lock (the request under
    test has reached the row another transaction of the test holds)."""
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )).scalar_one()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("nobody waited on a lock")
