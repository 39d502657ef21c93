"""Best available, adjacent: the short scan first, the full scan when the front is fragmented
(holds._hold_adjacent)."""
import random

import pytest
from sqlalchemy import text

from ticketing.services import holds

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
