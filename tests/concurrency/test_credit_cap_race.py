"""Two staff credits racing cannot together pass the staff member's daily cap.

Twelve credits of 400,00 from one staff member start at the same instant against a daily cap
of 1.000,00: the conditional upsert on ``staff_credit_days`` lets exactly two through. The
control runs the same race against the obvious "sum today's credits, then insert" check:
several of them pass, so the race is real. (The fans' own daily top-up limit also sums first,
but after taking the fan's wallet lock, which the cap of a staff member across many fans has
no row for: tests/concurrency/test_top_up_limit_race.py.)
"""
import time
import uuid

from sqlalchemy import text
from sqlalchemy.orm import Session

from ticketing.problems import ValidationFailed
from ticketing.services import credits

from .conftest import race

RULES = credits.CreditRules(per_credit_max=50_000, daily_max=100_000, approval_above=50_000)
RACERS = 12
AMOUNT = 40_000


def _people(engine):
    with engine.begin() as conn:
        fan, staff = conn.execute(text(
            "INSERT INTO users (email, full_name, password_hash, role) VALUES "
            "(:f, 'Fan', 'x', 'customer'), (:s, 'Staff', 'x', 'staff') RETURNING id"),
            {"f": f"fan-{uuid.uuid4().hex[:8]}@example.com", "s": f"staff-{uuid.uuid4().hex[:8]}@example.com"},
        ).scalars().all()
    return fan, staff


def _guarded_credit(engine, fan, staff):
    with Session(engine) as session, session.begin():
        time.sleep(0.02)  # the same window the naive version has
        try:
            credits.request_credit(session, RULES, user_id=fan, amount=AMOUNT, currency="EUR", reason="race",
                                   staff_id=staff, request_key=uuid.uuid4().hex)
        except ValidationFailed:
            return False
    return True


def _naive_credit(engine, fan, staff):
    with engine.begin() as conn:
        used = conn.execute(text("SELECT coalesce(sum(amount), 0) FROM wallet_credits WHERE requested_by = :s "
                                 "AND status <> 'rejected' AND requested_at >= date_trunc('day', now())"),
                            {"s": staff}).scalar_one()
        if used + AMOUNT > RULES.daily_max:
            return False
        time.sleep(0.02)  # between "check" and "write"
        conn.execute(text("INSERT INTO wallet_credits (user_id, amount, currency, reason, status, request_key, "
                          "requested_by) VALUES (:f, :a, 'EUR', 'race', 'approved', :k, :s)"),
                     {"f": fan, "a": AMOUNT, "k": uuid.uuid4().hex, "s": staff})
    return True


def _credited(engine, staff):
    with engine.connect() as conn:
        return conn.execute(text("SELECT coalesce(sum(amount), 0) FROM wallet_credits WHERE requested_by = :s"),
                            {"s": staff}).scalar_one()


def test_control_the_naive_check_lets_the_racers_past_the_cap(clean_db):
    fan, staff = _people(clean_db)
    passed = race([lambda: _naive_credit(clean_db, fan, staff) for _ in range(RACERS)], workers=RACERS)
    assert sum(passed) > 2, "the control race did not overlap; the guarded test proves nothing"
    assert _credited(clean_db, staff) > RULES.daily_max


def test_the_conditional_upsert_keeps_racing_credits_within_the_daily_cap(clean_db):
    fan, staff = _people(clean_db)
    passed = race([lambda: _guarded_credit(clean_db, fan, staff) for _ in range(RACERS)], workers=RACERS)
    assert sum(passed) == RULES.daily_max // AMOUNT == 2
    assert _credited(clean_db, staff) == 2 * AMOUNT <= RULES.daily_max
    with clean_db.connect() as conn:
        day_total = conn.execute(text("SELECT total FROM staff_credit_days WHERE staff_id = :s"), {"s": staff}).scalar_one()
        balance = conn.execute(text("SELECT balance FROM wallets WHERE user_id = :f"), {"f": fan}).scalar_one()
        ledger = conn.execute(text("SELECT sum(amount) FROM wallet_ledger WHERE user_id = :f"), {"f": fan}).scalar_one()
    assert day_total == balance == ledger == 2 * AMOUNT
