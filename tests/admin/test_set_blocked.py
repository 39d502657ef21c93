"""``matches.set_blocked``: staff toggles on a match on sale never touch a fan's seats."""
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from ticketing.models import Match
from ticketing.problems import Conflict, ValidationFailed
from ticketing.services import matches

from tests.functional.catalogue_helpers import create_match, create_stadium


def _published_with_unpriced_block(staff):
    """North on sale (seat 1 of row 1 blocked for press); row 2 seat 1 blocked, never priced."""
    stadium, (north, _) = create_stadium(staff, sections=(("North", 2, 5), ("South", 1, 5)))
    match = create_match(staff, stadium["id"])
    category = staff.post(f"/api/v1/matches/{match['id']}/categories", {"name": "A", "price": 1000}, status=201).json
    staff.put(f"/api/v1/matches/{match['id']}/seating", {
        "assignments": [{"section_id": north["id"], "row": "1", "category_id": category["id"]}],
        "blocked": [{"section_id": north["id"], "row": "1", "from": 1, "to": 1, "reason": "press"},
                    {"section_id": north["id"], "row": "2", "from": 1, "to": 1, "reason": "vip"}],
    }, status=200)
    staff.post(f"/api/v1/matches/{match['id']}/publish", status=200)
    return match["id"]


def _states(engine, match_id):
    with engine.connect() as conn:
        return {row.number + 100 * row.row_index: (row.status, row.blocked_reason) for row in conn.execute(
            text("SELECT row_index, number, status, blocked_reason FROM match_seats WHERE match_id = :m"),
            {"m": match_id})}


def _seat_ids(engine, match_id):
    with engine.connect() as conn:
        return {row.number + 100 * row.row_index: row.seat_id for row in conn.execute(
            text("SELECT row_index, number, seat_id FROM match_seats WHERE match_id = :m"), {"m": match_id})}


def test_toggles_only_free_or_blocked_seats(staff, customer, engine):
    match_id = _published_with_unpriced_block(staff)
    ids = _seat_ids(engine, match_id)  # key: 100 * row_index + number
    customer.post("/api/v1/wallet/top-ups", {"amount": 10_000}, status=201)
    hold = customer.post(f"/api/v1/matches/{match_id}/holds", {"seat_ids": [ids[2]]}, status=201).json
    customer.post(f"/api/v1/holds/{hold['id']}/checkout", status=201)  # seat 2 sold
    customer.post(f"/api/v1/matches/{match_id}/holds", {"seat_ids": [ids[3]]}, status=201)  # seat 3 held
    etag = customer.get(f"/api/v1/matches/{match_id}/seats").headers["ETag"]

    with Session(engine) as session, session.begin():
        match = session.get(Match, match_id)
        changed = matches.set_blocked(session, match, [ids[n] for n in (1, 2, 3, 4, 5)], True, "vip", actor_id=staff.user["id"])
    assert changed == sorted([ids[4], ids[5]])
    states = _states(engine, match_id)
    assert [states[n] for n in (1, 2, 3, 4, 5)] == [
        ("blocked", "press"), ("sold", None), ("held", None), ("blocked", "vip"), ("blocked", "vip")]
    assert customer.get(f"/api/v1/matches/{match_id}/seats").headers["ETag"] != etag

    # Unblocking frees priced seats; the never-priced seat (row 2) stays blocked, a free seat is not a gift.
    with Session(engine) as session, session.begin():
        match = session.get(Match, match_id)
        changed = matches.set_blocked(session, match, [ids[1], ids[2], ids[4], ids[101]], False, None, actor_id=staff.user["id"])
    assert changed == sorted([ids[1], ids[4]])
    states = _states(engine, match_id)
    assert states[1] == ("available", None) and states[101] == ("blocked", "vip") and states[2] == ("sold", None)
    with engine.connect() as conn:
        actions = conn.execute(text("SELECT action, details->>'seats' FROM audit_log WHERE target_id = :m AND action LIKE 'match.%block' ORDER BY id"),
                               {"m": match_id}).all()
    assert actions == [("match.block", "2"), ("match.unblock", "2")]


def test_refuses_drafts_closed_matches_and_bad_reasons(staff, engine):
    match_id = _published_with_unpriced_block(staff)
    ids = _seat_ids(engine, match_id)
    with Session(engine) as session:
        match = session.get(Match, match_id)
        with pytest.raises(ValidationFailed):
            matches.set_blocked(session, match, [ids[4]], True, "because")
        with pytest.raises(ValidationFailed):
            matches.set_blocked(session, match, [], True, "press")
        session.rollback()
    staff.post(f"/api/v1/matches/{match_id}/close", status=200)
    with Session(engine) as session:
        with pytest.raises(Conflict):
            matches.set_blocked(session, session.get(Match, match_id), [ids[4]], True, "press")
        session.rollback()
