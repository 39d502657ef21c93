"""A control run: the same race against a deliberately naive claim shows the race is real.

Without this, a race test that passes could simply mean the threads never overlapped. Here
twenty threads go for one seat; the naive read-then-write version (the bug every box office
starts with) sells it to several of them, the service's conditional claim to exactly one.
"""
import time

from sqlalchemy import text

from ..functional.catalogue_helpers import published_match
from .conftest import race


def _naive_claim(engine, match_id, seat_id, hold_id):
    with engine.begin() as conn:
        status = conn.execute(
            text("SELECT status FROM match_seats WHERE match_id = :m AND seat_id = :s"), {"m": match_id, "s": seat_id}
        ).scalar_one()
        if status != "available":
            return False
        time.sleep(0.02)  # the window between "validate" and "book"
        conn.execute(
            text("UPDATE match_seats SET status = 'held', hold_id = :h, held_until = now() + interval '1 minute' "
                 "WHERE match_id = :m AND seat_id = :s"),
            {"m": match_id, "s": seat_id, "h": hold_id},
        )
        return True


def _guarded_claim(engine, match_id, seat_id, hold_id):
    from ticketing.services.holds import _CLAIM_CHOSEN

    with engine.begin() as conn:
        time.sleep(0.02)
        rows = conn.execute(
            _CLAIM_CHOSEN, {"match_id": match_id, "seat_ids": [seat_id], "hold_id": hold_id, "hold_seconds": 60}
        ).all()
        return len(rows) == 1


def _one_seat(engine, match_id):
    with engine.connect() as conn:
        return conn.execute(text("SELECT seat_id FROM match_seats WHERE match_id = :m ORDER BY seat_id LIMIT 1"),
                            {"m": match_id}).scalar_one()


def test_naive_read_then_write_sells_one_seat_many_times(staff, engine):
    match, *_ = published_match(staff, seats_per_row=2, rows=1, prices=(1000,))
    seat_id = _one_seat(engine, match["id"])
    winners = race([lambda i=i: _naive_claim(engine, match["id"], seat_id, 1000 + i) for i in range(20)], workers=20)
    assert sum(winners) > 1, "the control race did not overlap; the guarded test below proves nothing"


def test_conditional_claim_sells_it_once_under_the_same_race(staff, engine):
    match, *_ = published_match(staff, seats_per_row=2, rows=1, prices=(1000,))
    seat_id = _one_seat(engine, match["id"])
    winners = race([lambda i=i: _guarded_claim(engine, match["id"], seat_id, 1000 + i) for i in range(20)], workers=20)
    assert sum(winners) == 1
