"""Best available, adjacent: the short scan first, the full scan when the front is fragmented
(holds._claim_adjacent)."""
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
