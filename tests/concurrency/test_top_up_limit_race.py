"""A fan's racing top-ups cannot together pass the fan's daily top-up limit.

Twelve top-ups of 1.000,00 from one fan start at the same instant against the 3.000,00 daily
limit. ``wallet.top_up`` takes the fan's wallet lock before it sums the day's top-ups, so the
top-ups of one fan run one after the other and each sums what the earlier ones committed
(READ COMMITTED: every statement sees what committed before it started): exactly three pass.
The control runs the same "sum today's top-ups, then write" without the lock first: several
more pass, so the race is real and the lock is what stops it.
"""
import time
import uuid

from sqlalchemy import text
from sqlalchemy.orm import Session

from ticketing.problems import ValidationFailed
from ticketing.services import wallet

from .conftest import race

RACERS = 12
AMOUNT = wallet.MAX_TOP_UP
LIMIT = wallet.MAX_TOP_UP_PER_DAY
_TODAY = ("SELECT coalesce(sum(amount), 0)::bigint FROM wallet_ledger WHERE user_id = :u AND kind = 'top_up' "
          "AND created_by IS NULL AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'")


def _fan(engine):
    with engine.begin() as conn:
        fan = conn.execute(text("INSERT INTO users (email, full_name, password_hash, role) "
                                "VALUES (:e, 'Fan', 'x', 'customer') RETURNING id"),
                           {"e": f"fan-{uuid.uuid4().hex[:8]}@example.com"}).scalar_one()
        conn.execute(text("INSERT INTO wallets (user_id, balance, currency) VALUES (:u, 0, 'EUR')"), {"u": fan})
    return fan


def _guarded_top_up(engine, fan):
    with Session(engine) as session, session.begin():
        time.sleep(0.02)  # the same window the control has
        try:
            wallet.top_up(session, fan, AMOUNT, "EUR")
        except ValidationFailed:
            return False
    return True


def _unlocked_top_up(engine, fan):
    """The same check and writes as ``wallet.top_up``, without the wallet lock first."""
    with engine.begin() as conn:
        if conn.execute(text(_TODAY), {"u": fan}).scalar_one() + AMOUNT > LIMIT:
            return False
        time.sleep(0.02)  # between "check" and "write"
        balance = conn.execute(text("UPDATE wallets SET balance = balance + :a WHERE user_id = :u RETURNING balance"),
                               {"a": AMOUNT, "u": fan}).scalar_one()
        conn.execute(text("INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, currency) "
                          "VALUES (:u, 'top_up', :a, :b, 'EUR')"), {"u": fan, "a": AMOUNT, "b": balance})
    return True


def _topped_up(engine, fan):
    with engine.connect() as conn:
        return conn.execute(text(_TODAY), {"u": fan}).scalar_one(), conn.execute(
            text("SELECT balance FROM wallets WHERE user_id = :u"), {"u": fan}).scalar_one()


def test_control_without_the_wallet_lock_the_racers_pass_the_limit(clean_db):
    fan = _fan(clean_db)
    passed = race([lambda: _unlocked_top_up(clean_db, fan) for _ in range(RACERS)], workers=RACERS)
    assert sum(passed) > LIMIT // AMOUNT, "the control race did not overlap; the guarded test proves nothing"
    assert _topped_up(clean_db, fan)[0] > LIMIT


def test_the_wallet_lock_keeps_racing_top_ups_within_the_daily_limit(clean_db):
    fan = _fan(clean_db)
    passed = race([lambda: _guarded_top_up(clean_db, fan) for _ in range(RACERS)], workers=RACERS)
    assert sum(passed) == LIMIT // AMOUNT == 3
    ledger, balance = _topped_up(clean_db, fan)
    assert ledger == balance == LIMIT
