"""The match tallies kept as data (decision 0038) and the set-based match cancellation
(decision 0039): the counts that lists show follow every sale, refund, block and
cancellation, and a cancellation refunds fans with several orders exactly, in the ledger."""
from sqlalchemy import text
from sqlalchemy.orm import Session

from ticketing.models import Match
from ticketing.services import matches as match_service

from ..invariants import assert_invariants
from .catalogue_helpers import published_match


def _buy(fan, match_id, quantity, category_id):
    hold = fan.post(f"/api/v1/matches/{match_id}/holds", {"quantity": quantity, "category_id": category_id},
                    status=201).json
    return fan.post(f"/api/v1/holds/{hold['id']}/checkout", status=201).json


def _counts(client, match_id):
    body = client.get(f"/api/v1/matches/{match_id}").json
    listed = {item["id"]: item for item in client.get("/api/v1/matches?limit=100").json["items"]}[match_id]
    assert listed["seats"] == body["seats"]
    return body["seats"]


def test_tallies_follow_sales_refunds_blocks_and_a_set_based_cancellation(staff, user_factory, engine):
    match, _, sections, (paid, free) = published_match(staff, prices=(1000, 0))
    match_id = match["id"]
    ana, bor, cene = user_factory(), user_factory(), user_factory()
    for fan in (ana, bor):
        fan.post("/api/v1/wallet/top-ups", {"amount": 10_000}, status=201)
    first = _buy(ana, match_id, 2, paid["id"])
    second = _buy(ana, match_id, 1, paid["id"])
    _buy(ana, match_id, 1, free["id"])  # a free order: no money moves, no ledger row
    own = _buy(bor, match_id, 2, paid["id"])
    cene.post(f"/api/v1/matches/{match_id}/holds", {"quantity": 3}, status=201)
    assert _counts(staff, match_id) == {"total": 60, "sold": 6, "held": 3, "blocked": 0, "available": 51}

    bor.post(f"/api/v1/orders/{own['id']}/cancel", status=200)
    seat = first["tickets"][0]["seat"]["id"]
    free_seat = staff.get(f"/api/v1/matches/{match_id}/seats?status=available").json["seats"][0][0]
    with Session(engine) as session:  # the admin's block form calls this service
        changed = match_service.set_blocked(session, session.get(Match, match_id), [free_seat, seat], True,
                                            "press", staff.user["id"])
        session.commit()
    assert changed == [free_seat]  # a sold seat is never blocked
    assert _counts(staff, match_id) == {"total": 60, "sold": 4, "held": 3, "blocked": 1, "available": 52}
    assert_invariants(engine)

    cancelled = staff.post(f"/api/v1/matches/{match_id}/cancel", status=200).json
    assert cancelled["refunded_orders"] == 3  # Ana's three; Bor's was cancelled already
    assert _counts(staff, match_id) == {"total": 60, "sold": 0, "held": 0, "blocked": 60, "available": 0}
    assert ana.get("/api/v1/wallet").json["balance"] == 10_000
    assert bor.get("/api/v1/wallet").json["balance"] == 10_000
    with engine.connect() as conn:
        refunds = conn.execute(text(
            "SELECT order_id, amount, balance_after, reason FROM wallet_ledger "
            "WHERE user_id = :u AND kind = 'refund' ORDER BY id"), {"u": ana.user["id"]}).all()
    # One row per paid order, the running balance rising in order-id order to the new balance.
    assert [tuple(row) for row in refunds] == [
        (first["id"], 2000, 7000 + 2000, "match cancelled"),
        (second["id"], 1000, 10_000, "match cancelled"),
    ]
    assert_invariants(engine)


def test_a_failed_cancellation_leaves_nothing_behind(staff, user_factory, engine):
    """All or nothing: a refund that cannot be written aborts the whole cancellation."""
    match, *_ = published_match(staff, prices=(1000,))
    fan = user_factory()
    fan.post("/api/v1/wallet/top-ups", {"amount": 5000}, status=201)
    order = _buy(fan, match["id"], 2, match_categories(staff, match["id"])[0])
    with engine.begin() as conn:  # a refund row now breaks a constraint inside the statement
        conn.execute(text("ALTER TABLE wallet_ledger ADD CONSTRAINT no_refunds_today CHECK (kind <> 'refund')"))
    try:
        response = staff.post(f"/api/v1/matches/{match['id']}/cancel", expect_errors=True)
        assert response.status_int >= 400
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE wallet_ledger DROP CONSTRAINT no_refunds_today"))
    assert staff.get(f"/api/v1/matches/{match['id']}").json["status"] == "on_sale"
    assert fan.get(f"/api/v1/orders/{order['id']}").json["status"] == "paid"
    assert fan.get("/api/v1/wallet").json["balance"] == 3000
    assert_invariants(engine)


def match_categories(client, match_id):
    return [c["id"] for c in client.get(f"/api/v1/matches/{match_id}/categories").json["items"]]


def _money(engine, match_id):
    """The match's revenue and refunded tallies, as the dashboard and the matches list add them
    up; and the refunds its daily chart shows for today (every refund today is this test's)."""
    from datetime import datetime, timezone

    from ticketing.services import sales

    today = datetime.now(timezone.utc).date()
    with Session(engine) as session:
        revenue = sales.revenue_by_match(session, [match_id])[match_id]["revenue"]
        refunded = session.execute(text("SELECT sum(refunded) FROM match_seat_versions WHERE match_id = :m"),
                                   {"m": match_id}).scalar_one()
        [day] = sales.daily_sales(session, today, today, "UTC", match_id)
    assert day["refunded"] == refunded, "the chart's refunds today differ from the tally"
    return revenue, refunded


def test_revenue_is_what_the_valid_tickets_cost_after_each_kind_of_refund(staff, user_factory, engine):
    """A ticket cancelled on its own is refunded at once: its price leaves the match's revenue
    then (it used to stay there until the whole order went), and a later whole-order or
    whole-match cancellation moves only what is still valid."""
    match, *_ = published_match(staff, prices=(2500,))
    match_id, category = match["id"], match_categories(staff, match["id"])[0]
    ana, bor = user_factory(), user_factory()
    for fan in (ana, bor):
        fan.post("/api/v1/wallet/top-ups", {"amount": 20_000}, status=201)
    three = _buy(ana, match_id, 3, category)
    two = _buy(bor, match_id, 2, category)
    assert _money(engine, match_id) == (12_500, 0)

    ana.post(f"/api/v1/tickets/{three['tickets'][0]['id']}/cancel", status=200)
    assert _money(engine, match_id) == (10_000, 2500)
    assert staff.get(f"/api/v1/matches/{match_id}/seats").status_int == 200
    assert_invariants(engine)

    ana.post(f"/api/v1/orders/{three['id']}/cancel", status=200)  # the two still valid
    assert _money(engine, match_id) == (5000, 7500)
    bor.post(f"/api/v1/tickets/{two['tickets'][1]['id']}/cancel", status=200)
    assert _money(engine, match_id) == (2500, 10_000)
    assert_invariants(engine)

    staff.post(f"/api/v1/matches/{match_id}/cancel", status=200)  # Bor's last ticket
    assert _money(engine, match_id) == (0, 12_500)
    assert ana.get("/api/v1/wallet").json["balance"] == bor.get("/api/v1/wallet").json["balance"] == 20_000
    assert_invariants(engine)
