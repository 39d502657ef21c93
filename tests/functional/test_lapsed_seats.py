"""Best available reads available seats only, and lapsed holds' seats are still the first it
takes (services/holds.py, decision 0026)."""
import pytest
from sqlalchemy import text

from ticketing.services import holds

from ..invariants import assert_invariants
from .catalogue_helpers import published_match
from .test_auth import assert_problem


def _fund(fan, amount=50_000):
    fan.post("/api/v1/wallet/top-ups", {"amount": amount}, status=201)


def _lapse(engine, hold_id):
    with engine.begin() as conn:
        conn.execute(text("UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = :h"), {"h": hold_id})
        conn.execute(text("UPDATE match_seats SET held_until = now() - interval '1 second' WHERE hold_id = :h"),
                     {"h": hold_id})


def _statuses(engine, match_id):
    with engine.connect() as conn:
        return dict(conn.execute(text(
            "SELECT seat_id, status || coalesce(':' || hold_id, '') FROM match_seats WHERE match_id = :m"
        ), {"m": match_id}).all())


@pytest.mark.parametrize("request_body", [
    {"quantity": 2},  # the adjacent-block plan, anywhere in the stadium
    {"quantity": 2, "in_category": True},  # the plan in one category
    {"quantity": 1},  # the first free seat
])
def test_best_available_takes_a_lapsed_holds_seats_first(staff, user_factory, engine, request_body):
    match, _, _, (category,) = published_match(staff, seats_per_row=6, rows=1, prices=(1000,))
    owner, rival = user_factory(), user_factory()
    _fund(owner)
    _fund(rival)
    url = f"/api/v1/matches/{match['id']}/holds"
    lapsed = owner.post(url, {"quantity": 2}, status=201).json
    front = [seat["id"] for seat in lapsed["seats"]]
    assert [seat["number"] for seat in lapsed["seats"]] == [1, 2]
    _lapse(engine, lapsed["id"])

    body = {"quantity": request_body["quantity"]}
    if request_body.get("in_category"):
        body["category_id"] = category["id"]
    hold = rival.post(url, body, status=201).json
    # The best seats are the lapsed ones: front of the row, not the never-held seats 3 and up.
    assert [seat["id"] for seat in hold["seats"]] == front[: body["quantity"]]
    statuses = _statuses(engine, match["id"])
    assert [statuses[seat_id] for seat_id in front[: body["quantity"]]] == [f"held:{hold['id']}"] * body["quantity"]
    # Made available on the way, not left to a sweeper: the rest of the lapsed hold is free.
    assert [statuses[seat_id] for seat_id in front[body["quantity"]:]] == ["available"] * (2 - body["quantity"])
    assert_problem(owner.post(f"/api/v1/holds/{lapsed['id']}/checkout", status=410), 410)
    rival.post(f"/api/v1/holds/{hold['id']}/checkout", status=201)
    assert_invariants(engine)


def test_a_hold_that_fails_after_freeing_lapsed_seats_leaves_them_free_for_the_next_fan(staff, user_factory, engine):
    """The lapsed seats are made available in a transaction of their own: a hold refused after
    it (here by the per-fan limit) does not take them back into a lapsed hold, nor lock them."""
    match, *_ = published_match(staff, seats_per_row=4, rows=1, prices=(1000,), max_tickets_per_fan=2)
    owner, greedy, next_fan = user_factory(), user_factory(), user_factory()
    for fan in (owner, greedy, next_fan):
        _fund(fan)
    url = f"/api/v1/matches/{match['id']}/holds"
    lapsed = owner.post(url, {"quantity": 2}, status=201).json
    _lapse(engine, lapsed["id"])
    assert_problem(greedy.post(url, {"quantity": 3}, status=409), 409, "quantity")
    assert set(_statuses(engine, match["id"]).values()) == {"available"}
    hold = next_fan.post(url, {"quantity": 2}, status=201).json
    assert [seat["id"] for seat in hold["seats"]] == [seat["id"] for seat in lapsed["seats"]]
    assert owner.get(f"/api/v1/holds/{lapsed['id']}").json["status"] == "expired"
    assert_invariants(engine)


def _scans_of_match_seats(plan):
    """Every scan of match_seats in an EXPLAIN (ANALYZE, FORMAT JSON) plan tree."""
    found = []
    if plan.get("Relation Name") == "match_seats":
        found.append(plan)
    for child in plan.get("Plans", []):
        found.extend(_scans_of_match_seats(child))
    return found


def _hold_seats_in_front(engine, match_id, count, lapsed=False):
    """The first ``count`` seats in layout order held (by a made-up hold, id 0), as a rush leaves them."""
    until = "now() - interval '1 second'" if lapsed else "now() + interval '1 hour'"
    with engine.begin() as conn:
        conn.execute(text(
            f"UPDATE match_seats SET status = 'held', hold_id = 0, held_until = {until} "
            "WHERE match_id = :m AND seat_id IN (SELECT seat_id FROM match_seats WHERE match_id = :m "
            "ORDER BY section_id, row_index, number LIMIT :n)"), {"m": match_id, "n": count})
        conn.execute(text("ANALYZE match_seats"))


def test_best_available_scans_read_no_held_seat(staff, customer, engine):
    """With 1,500 of 5,000 seats held in front of the free ones, the statements a hold runs
    read free seats only, in the plans PostgreSQL gives the app: the on-sale check with its
    block plan (prepared; generic, as after a connection's fifth call) and the first-free
    claim. Nothing is removed by a filter; the claimable indexes walked past every held seat
    (~0.25 µs each, 1 ms per scan at 4,000 held)."""
    match, _, _, (category,) = published_match(staff, seats_per_row=50, rows=100, prices=(1000,))
    _hold_seats_in_front(engine, match["id"], 1500)
    fan = customer.user["id"]
    prepared = [
        (holds._ON_SALE_WITH_BLOCKS_ANYWHERE, {"u": fan, "match_id": match["id"], "category_id": None,
                                               **holds._plan(2, None)}),
        (holds._ON_SALE_WITH_BLOCKS_IN_CATEGORY, {"u": fan, "match_id": match["id"], "category_id": category["id"],
                                                  **holds._plan(2, category["id"])}),
    ]
    explained = {}
    with engine.connect() as conn:
        conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        for statement, params in prepared:
            # Under a name of the test's own: the pooled connection may have prepared the
            # app's statement already (an earlier test's request), and the pool remembers it.
            own = f"test_{statement.name}"
            conn.exec_driver_sql(statement.prepare_sql.replace(f"PREPARE {statement.name} ", f"PREPARE {own} ", 1))
            arguments = tuple(params[name] for name in statement.parameters)
            explained[statement.name] = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, FORMAT JSON) "
                + statement.execute_sql.replace(f"EXECUTE {statement.name} ", f"EXECUTE {own} ", 1),
                arguments).scalar_one()[0]
            conn.exec_driver_sql(f"DEALLOCATE {own}")
        conn.rollback()
    with engine.connect() as conn:  # rolled back: the first-free claim really claims
        explained["first free"] = conn.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {holds._CLAIM_FIRST_FREE.text}"), {
            "match_id": match["id"], "category_id": None, "quantity": 2, "hold_id": 2, "hold_seconds": 60,
        }).scalar_one()[0]
        conn.rollback()
    for name, plan in explained.items():
        # The claimed seats are then found by key (the primary key or, on a table of one match,
        # the seat_id index of migration 0007 serves as well): those are lookups, not scans.
        scans = [scan for scan in _scans_of_match_seats(plan["Plan"])
                 if scan["Node Type"].endswith("Scan")
                 and scan.get("Index Name") not in ("pk_match_seats", "ix_match_seats_seat_id")]
        used = {scan.get("Index Name") for scan in scans}
        assert used & {"ix_match_seats_available", "ix_match_seats_available_layout"}, (name, used)
        assert used <= {"ix_match_seats_available", "ix_match_seats_available_layout",
                        "ix_match_seats_held_until"}, (name, used)  # the lapsed probe
        for scan in scans:
            assert scan.get("Rows Removed by Filter", 0) == 0, (name, scan["Index Name"], scan["Rows Removed by Filter"])


def test_a_hold_frees_at_most_a_hundred_lapsed_seats_the_best_first(staff, user_factory, engine):
    """When many holds lapse at once, one hold frees the best RELEASE_AT_ONCE of their seats
    (locked while it does, so fans racing it skip them): the next hold frees the next ones."""
    match, *_ = published_match(staff, seats_per_row=50, rows=4, prices=(1000,))
    _hold_seats_in_front(engine, match["id"], holds.RELEASE_AT_ONCE + 50, lapsed=True)
    with engine.connect() as conn:
        front = conn.execute(text("SELECT seat_id FROM match_seats WHERE match_id = :m "
                                  "ORDER BY section_id, row_index, number"), {"m": match["id"]}).scalars().all()
    first, second = user_factory(), user_factory()
    _fund(first)
    _fund(second)
    url = f"/api/v1/matches/{match['id']}/holds"
    hold = first.post(url, {"quantity": 2}, status=201).json
    assert [seat["id"] for seat in hold["seats"]] == front[:2]
    statuses = _statuses(engine, match["id"])
    still_lapsed = [seat_id for seat_id in front if statuses[seat_id] == "held:0"]
    assert still_lapsed == front[holds.RELEASE_AT_ONCE:holds.RELEASE_AT_ONCE + 50]
    hold = second.post(url, {"quantity": 2}, status=201).json
    assert [seat["id"] for seat in hold["seats"]] == front[2:4]
    assert "held:0" not in _statuses(engine, match["id"]).values()
    assert_invariants(engine)


def test_freeing_lapsed_seats_never_brings_back_an_older_maps_etag(staff, user_factory, engine, anonymous):
    """The ETag counts lapsed holds (a lapse changes the map with no write). Freeing their
    seats lowers that count, so it must also bump the seat version: else the map's ETag
    would be the one it had before the lapse, when those seats showed as held, and a fan
    polling with that old ETag would be told (304) that they are still held."""
    match, *_ = published_match(staff, seats_per_row=4, rows=1, prices=(1000,), max_tickets_per_fan=2)
    owner, greedy = user_factory(), user_factory()
    _fund(owner)
    _fund(greedy)
    url = f"/api/v1/matches/{match['id']}/holds"
    lapsed = owner.post(url, {"quantity": 2}, status=201).json
    seat_map = f"/api/v1/matches/{match['id']}/seats"
    before = anonymous.get(seat_map)
    shown = {seat[0]: seat[8] for seat in before.json["seats"]}
    assert {shown[seat["id"]] for seat in lapsed["seats"]} == {"held"}
    _lapse(engine, lapsed["id"])
    # Freed on the way by a hold that is then refused (the per-fan limit): no hold of its own
    # bumps the version after the release.
    assert_problem(greedy.post(url, {"quantity": 3}, status=409), 409, "quantity")
    assert set(_statuses(engine, match["id"]).values()) == {"available"}
    after = anonymous.get(seat_map, headers={"If-None-Match": before.headers["ETag"]}, status=200)
    assert after.headers["ETag"] != before.headers["ETag"]
    assert {seat[8] for seat in after.json["seats"]} == {"available"}
