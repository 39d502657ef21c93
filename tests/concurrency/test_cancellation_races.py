"""Cancellations racing each other: an order is refunded once, whoever gets there first."""
import threading
import time

from sqlalchemy import text

from ..functional.catalogue_helpers import published_match
from ..invariants import assert_invariants
from .conftest import race


def test_match_cancellation_racing_a_fans_own_cancellation_refunds_once(staff, customers, engine):
    match, *_ = published_match(staff, prices=(1000,))
    first, second = customers(2)  # ids ascending: the match cancellation visits `first` first
    orders = []
    for fan in (first, second):
        hold = fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json
        orders.append(fan.post(f"/api/v1/holds/{hold['id']}/checkout", status=201).json)

    # Hold the first fan's wallet so the match cancellation stalls after reading the order list.
    blocker = engine.connect()
    blocker_tx = blocker.begin()
    blocker.execute(text("SELECT 1 FROM wallets WHERE user_id = :u FOR UPDATE"), {"u": first.user["id"]})
    results = {}

    def cancel_match():
        results["match"] = staff.post(f"/api/v1/matches/{match['id']}/cancel", expect_errors=True)

    worker = threading.Thread(target=cancel_match)
    worker.start()
    time.sleep(0.5)  # the match cancellation is now waiting on the first fan's wallet
    results["own"] = second.post(f"/api/v1/orders/{orders[1]['id']}/cancel", expect_errors=True)
    blocker_tx.rollback()
    blocker.close()
    worker.join(timeout=30)

    assert results["own"].status_int == 200 and results["match"].status_int == 200
    assert results["match"].json["refunded_orders"] == 1
    assert second.get("/api/v1/wallet").json["balance"] == 100_000  # refunded exactly once
    assert_invariants(engine)


def test_concurrent_publishes_publish_once(staff, engine):
    stadium = staff.post("/api/v1/stadiums", {"name": "Once", "city": "X"}, status=201).json
    section = staff.post(f"/api/v1/stadiums/{stadium['id']}/sections", {"name": "A", "rows": [{"label": "1", "seats": 5}]},
                         status=201).json
    match = staff.post("/api/v1/matches", {"stadium_id": stadium["id"], "home_team": "A", "away_team": "B",
                                           "starts_at": "2031-01-01T18:00:00Z"}, status=201).json
    category = staff.post(f"/api/v1/matches/{match['id']}/categories", {"name": "C", "price": 100}, status=201).json
    staff.put(f"/api/v1/matches/{match['id']}/seating",
              {"assignments": [{"section_id": section["id"], "category_id": category["id"]}]}, status=200)
    responses = race([lambda: staff.post(f"/api/v1/matches/{match['id']}/publish", expect_errors=True)] * 4, workers=4)
    assert sorted(r.status_int for r in responses) == [200, 409, 409, 409]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM match_seats WHERE match_id = :m"), {"m": match["id"]}).scalar_one() == 5
