"""Best available, adjacent: the short scan first, the full scan when the front is fragmented
(holds._hold_adjacent)."""
import random

import pytest
from sqlalchemy import text

from ticketing.services import holds
from ticketing.services.claims_in_flight import Claimer, ClaimsInFlight

from .catalogue_helpers import published_match


def _fragment_all_rows_but_the_last(engine, match_id):
    """Every other seat blocked in every row but each section's last: the front of the map is
    single seats only, more of them than the short scan reads."""
    with engine.begin() as conn:
        conn.execute(text(
            """
            UPDATE match_seats ms SET status = 'blocked', blocked_reason = 'test: fragmented front'
            WHERE ms.match_id = :m AND ms.number % 2 = 0
              AND ms.row_index < (SELECT max(row_index) FROM match_seats WHERE match_id = :m AND section_id = ms.section_id)
            """
        ), {"m": match_id})


@pytest.mark.parametrize("in_category", [False, True])
def test_adjacent_seats_beyond_the_short_scan_are_still_found(staff, customer, engine, in_category):
    match, _, sections, (category,) = published_match(staff, seats_per_row=20, rows=16, prices=(4000,))
    _fragment_all_rows_but_the_last(engine, match["id"])
    singles = 15 * 10
    assert singles > min(holds.CANDIDATE_SCAN, 2 * 2 * (1 + holds.WINDOW_JITTER + holds.WINDOW_ATTEMPTS * 3))
    customer.post("/api/v1/wallet/top-ups", {"amount": 100_000}, status=201)
    body = {"quantity": 2, "adjacent": True, **({"category_id": category["id"]} if in_category else {})}
    hold = customer.post(f"/api/v1/matches/{match['id']}/holds", body, status=201).json
    a, b = hold["seats"]
    assert a["row"] == b["row"] == "16" and {a["number"], b["number"]} == {1, 2}


@pytest.mark.parametrize("in_category", [False, True])
def test_a_short_scan_with_enough_blocks_gives_the_full_scans_first_blocks(staff, engine, in_category):
    match, _, sections, (category,) = published_match(staff, seats_per_row=20, rows=16, prices=(4000,))
    with engine.begin() as conn:  # some fragmentation, but enough pairs up front
        conn.execute(text("UPDATE match_seats SET status = 'blocked', blocked_reason = 't' "
                          "WHERE match_id = :m AND number % 7 = 3"), {"m": match["id"]})
    statement = holds._ADJACENT_BLOCKS_IN_CATEGORY if in_category else holds._ADJACENT_BLOCKS_ANYWHERE
    plan = {"match_id": match["id"], "category_id": category["id"], "quantity": 2, "blocks": 33}
    with engine.connect() as conn:
        short = statement.execute(conn, {**plan, "scan": 132}).scalars().all()
        full = statement.execute(conn, {**plan, "scan": holds.CANDIDATE_SCAN}).scalars().all()
    assert len(short) == 33 and short == full


@pytest.mark.parametrize("in_category", [False, True])
def test_the_plan_riding_with_the_on_sale_check_is_the_plan(staff, customer, engine, in_category):
    """create_hold sends the adjacent-block plan inside the on-sale check's statement: same
    blocks, in the same order, as the plan on its own."""
    match, _, sections, (category,) = published_match(staff, seats_per_row=20, rows=16, prices=(4000,))
    with engine.begin() as conn:  # some fragmentation, pairs between the gaps
        conn.execute(text("UPDATE match_seats SET status = 'blocked', blocked_reason = 't' "
                          "WHERE match_id = :m AND number % 7 = 3"), {"m": match["id"]})
    category_id = category["id"] if in_category else None
    plan = {"match_id": match["id"], "category_id": category_id, **holds._plan(2, category_id)}
    check = holds._ON_SALE_WITH_BLOCKS_IN_CATEGORY if in_category else holds._ON_SALE_WITH_BLOCKS_ANYWHERE
    alone = holds._ADJACENT_BLOCKS_IN_CATEGORY if in_category else holds._ADJACENT_BLOCKS_ANYWHERE
    with engine.connect() as conn:
        fan = check.execute(conn, {**plan, "u": customer.user["id"]}).one()
        blocks = alone.execute(conn, plan).scalars().all()
        conn.rollback()  # the check locks nothing here, but takes a hold id
    assert fan.status == "on_sale" and fan.category_known and fan.previous is None
    assert fan.blocks == blocks and len(blocks) == plan["blocks"]


def test_a_fan_replacing_a_hold_can_get_the_same_adjacent_seats_back(staff, customer, engine):
    """The plan made with the on-sale check predates the release of the fan's previous hold:
    create_hold plans again after it, so the freed seats count."""
    match, *_ = published_match(staff, seats_per_row=10, rows=2, prices=(4000,))
    with engine.begin() as conn:  # only seats 4 and 5 of the first row are on sale
        conn.execute(text("UPDATE match_seats ms SET status = 'blocked', blocked_reason = 't' FROM seats s "
                          "WHERE s.id = ms.seat_id AND ms.match_id = :m AND NOT (s.row_index = 1 AND s.number IN (4, 5))"),
                     {"m": match["id"]})
    customer.post("/api/v1/wallet/top-ups", {"amount": 100_000}, status=201)
    url = f"/api/v1/matches/{match['id']}/holds"
    first = customer.post(url, {"quantity": 2, "adjacent": True}, status=201).json
    again = customer.post(url, {"quantity": 2, "adjacent": True}, status=201).json
    assert [s["id"] for s in again["seats"]] == [s["id"] for s in first["seats"]]
    assert customer.get(f"/api/v1/holds/{first['id']}").json["status"] == "replaced"


def _blocks_by_hand(seats, scan, quantity, limit):
    """The plan's definition, in Python: among the first ``scan`` available seats in layout
    order, every ``quantity`` seats of one row with consecutive numbers, in layout order."""
    front = sorted((s for s in seats if s.status == "available"),
                   key=lambda s: (s.section_id, s.row_index, s.number))[:scan]
    blocks = []
    for start, first in enumerate(front):
        run = front[start:start + quantity]
        if (len(run) == quantity and all((s.section_id, s.row_index) == (first.section_id, first.row_index) for s in run)
                and [s.number for s in run] == list(range(first.number, first.number + quantity))):
            blocks.append([s.seat_id for s in run])
    return blocks[:limit]


@pytest.mark.parametrize("in_category", [False, True])
def test_the_block_plan_finds_exactly_the_runs_of_free_seats(staff, engine, in_category):
    """decision 0033: one window over the index order finds the same blocks as their
    definition, whatever the pattern of free seats (row ends, short scans, long quantities)."""
    match, _, sections, categories = published_match(staff, seats_per_row=12, rows=6, prices=(4000, 2500))
    chance = random.Random(33)
    with engine.begin() as conn:
        ids = conn.execute(text("SELECT seat_id FROM match_seats WHERE match_id = :m ORDER BY seat_id"),
                           {"m": match["id"]}).scalars().all()
        taken = [seat_id for seat_id in ids if chance.random() < 0.3]
        conn.execute(text("UPDATE match_seats SET status = 'blocked', blocked_reason = 't' "
                          "WHERE match_id = :m AND seat_id = ANY(:ids)"), {"m": match["id"], "ids": taken})
        seats = conn.execute(text("SELECT seat_id, section_id, row_index, number, status, category_id "
                                  "FROM match_seats WHERE match_id = :m"), {"m": match["id"]}).all()
    category_id = categories[0]["id"] if in_category else None
    if in_category:
        seats = [s for s in seats if s.category_id == category_id]
    statement = holds._ADJACENT_BLOCKS_IN_CATEGORY if in_category else holds._ADJACENT_BLOCKS_ANYWHERE
    checked = 0
    with engine.connect() as conn:
        for quantity in (2, 3, 5):
            for scan in (7, 40, holds.CANDIDATE_SCAN):
                for limit in (3, 1000):
                    params = {"match_id": match["id"], "category_id": category_id, "scan": scan,
                              "quantity": quantity, "blocks": limit}
                    expected = _blocks_by_hand(seats, scan, quantity, limit)
                    assert statement.execute(conn, params).scalars().all() == expected, params
                    checked += len(expected)
    assert checked > 50  # the pattern leaves runs of every length asked for


def _layout(engine, match_id):
    """(row, number) -> seat id for the match's seats."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT s.row_label, s.number, s.id FROM seats s JOIN match_seats ms ON ms.seat_id = s.id "
                                 "WHERE ms.match_id = :m"), {"m": match_id}).all()
    return {(row, number): seat_id for row, number, seat_id in rows}


@pytest.fixture
def claims(wsgi_app):
    """A fresh claims-in-flight map for this test: the app (and its map) lives for the whole
    session while ids restart with every test, so a mark must not outlive its test."""
    kept = wsgi_app.registry["claims_in_flight"]
    wsgi_app.registry["claims_in_flight"] = fresh = ClaimsInFlight()
    yield fresh
    wsgi_app.registry["claims_in_flight"] = kept


def _buyer(user_factory):
    fan = user_factory()
    fan.post("/api/v1/wallet/top-ups", {"amount": 100_000}, status=201)
    return fan


def _hold_pair(fan, match):
    return fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2, "adjacent": True}, status=201).json


def test_a_block_another_request_here_is_claiming_is_tried_last(staff, user_factory, engine, claims):
    """decision 0034: a buyer's first try goes around the seats this process's other requests
    are claiming; without a mark the best block is the best block again."""
    match, *_ = published_match(staff, seats_per_row=10, rows=2, prices=(4000,))
    seat = _layout(engine, match["id"])
    other = claims.claimer(user_id=-1)  # another fan's request, mid-claim on the best block
    best = [seat[("1", 1)], seat[("1", 2)]]
    other.take(match["id"], best)
    hold = _hold_pair(_buyer(user_factory), match)
    assert not {s["id"] for s in hold["seats"]} & set(best)
    other.drop(match["id"], best)  # that claim came back short: the best block is free again
    again = _hold_pair(_buyer(user_factory), match)
    assert [s["id"] for s in again["seats"]] == best


def test_a_request_marks_what_it_claims_until_its_transaction_ended(staff, user_factory, claims):
    """The hold's seats are marked, and the mark counts for a plan read while the request was
    in flight but not for one read after it ended."""
    match, *_ = published_match(staff, seats_per_row=10, rows=2, prices=(4000,))
    before = claims.claimer(user_id=-1)
    before.planning()
    hold = _hold_pair(_buyer(user_factory), match)
    ids = [s["id"] for s in hold["seats"]]
    assert before.busy(match["id"], ids)
    later = claims.claimer(user_id=-1)
    later.planning()
    assert not later.busy(match["id"], ids)


def test_marks_are_released_after_the_commit(staff, user_factory, engine, claims, monkeypatch):
    """Another request that plans once the marks are released sees the hold in the database."""
    match, *_ = published_match(staff, seats_per_row=10, rows=1, prices=(4000,))
    seen = []
    release = ClaimsInFlight._release

    def counting_holds_first(registry, claimer, keys):
        with engine.connect() as conn:
            seen.append(conn.execute(text("SELECT count(*) FROM holds WHERE match_id = :m"), {"m": match["id"]}).scalar())
        return release(registry, claimer, keys)

    monkeypatch.setattr(ClaimsInFlight, "_release", counting_holds_first)
    _hold_pair(_buyer(user_factory), match)
    assert seen == [1]


def test_a_marked_block_is_still_tried_when_it_is_the_only_one(staff, user_factory, engine, claims):
    """A hint, never a refusal: the only block is claimed even though another request here
    has a mark on it (that claim is failing elsewhere)."""
    match, *_ = published_match(staff, seats_per_row=2, rows=1, prices=(4000,))
    seat = _layout(engine, match["id"])
    only = [seat[("1", 1)], seat[("1", 2)]]
    claims.claimer(user_id=-1).take(match["id"], only)
    hold = _hold_pair(_buyer(user_factory), match)
    assert sorted(s["id"] for s in hold["seats"]) == sorted(only)


def test_a_short_claim_leaves_no_mark(staff, user_factory, engine, claims):
    """The best block's second seat is being claimed by another process (a row lock this one
    cannot see in its map): the first try comes back short, and its marks go with it."""
    match, *_ = published_match(staff, seats_per_row=10, rows=1, prices=(4000,))
    seat = _layout(engine, match["id"])
    best = [seat[("1", 1)], seat[("1", 2)]]
    with engine.connect() as conn, conn.begin():
        conn.execute(text("SELECT 1 FROM match_seats WHERE match_id = :m AND seat_id = :s FOR UPDATE"),
                     {"m": match["id"], "s": best[1]})
        probe = claims.claimer(user_id=-1)
        probe.planning()
        hold = _hold_pair(_buyer(user_factory), match)
        assert not {s["id"] for s in hold["seats"]} & set(best)
        assert not probe.busy(match["id"], best)


def test_a_hold_reads_its_plan_before_it_marks_and_claims(staff, user_factory, claims, monkeypatch):
    """The plan's time is taken before the statement that plans is sent (a mark released after
    it still counts for that plan), and the block is marked before its claim."""
    match, *_ = published_match(staff, seats_per_row=10, rows=1, prices=(4000,))
    calls = []
    for name in ("planning", "busy", "take", "drop", "finish"):
        real = getattr(Claimer, name)
        monkeypatch.setattr(Claimer, name, lambda self, *args, _real=real, _name=name: (calls.append(_name), _real(self, *args))[1])
    _hold_pair(_buyer(user_factory), match)
    assert calls == ["planning", "busy", "take", "finish"]
