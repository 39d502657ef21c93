"""Cancellations racing each other: an order is refunded once, whoever gets there first."""
import threading
import time

from sqlalchemy import text
from sqlalchemy.orm import Session

from ticketing.models import Match
from ticketing.services import matches as match_service

from ..functional.catalogue_helpers import published_match
from ..invariants import assert_invariants
from .conftest import race, wait_for_a_lock_wait


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


def test_sales_closed_while_a_checkout_waits_for_the_fans_wallet_sell_nothing(staff, customers, engine):
    """The checkout locks the wallet and the hold in one statement, whose snapshot predates
    the wait; the pay-and-issue statement checks the match is still on sale in its own."""
    match, *_ = published_match(staff, prices=(1000,))
    (fan,) = customers(1)
    hold = fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201).json

    blocker = engine.connect()  # the fan's other request, holding the wallet
    blocker_tx = blocker.begin()
    blocker.execute(text("SELECT 1 FROM wallets WHERE user_id = :u FOR UPDATE"), {"u": fan.user["id"]})
    results = {}
    worker = threading.Thread(target=lambda: results.update(
        checkout=fan.post(f"/api/v1/holds/{hold['id']}/checkout", expect_errors=True)))
    worker.start()
    wait_for_a_lock_wait(engine)  # the checkout is waiting on the wallet, its snapshot taken
    staff.post(f"/api/v1/matches/{match['id']}/close", status=200)
    blocker_tx.rollback()
    blocker.close()
    worker.join(timeout=30)

    assert results["checkout"].status_int == 409
    assert "not on sale (it is closed)" in results["checkout"].json["detail"]
    with engine.connect() as conn:
        sold = conn.execute(text("SELECT count(*) FROM tickets WHERE match_id = :m"), {"m": match["id"]}).scalar_one()
    assert sold == 0 and fan.get("/api/v1/wallet").json["balance"] == 100_000
    assert_invariants(engine)


def test_sales_closed_by_a_transaction_in_flight_when_the_payment_starts_sell_nothing(staff, customers, engine):
    """The close holds the match FOR UPDATE and has flipped its status, uncommitted, when the
    checkout's pay-and-issue statement takes its snapshot (which still says on sale). The
    statement reads the match FOR KEY SHARE, so it waits for the close and re-checks the
    status in the committed version: nothing is sold. (Without the lock, the order's foreign
    key check waited for the close instead and then let the sale through.)"""
    match, *_ = published_match(staff, prices=(1000,))
    (fan,) = customers(1)
    hold = fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201).json

    closing = Session(bind=engine)  # staff closing sales, between the flush and the commit
    match_service.close_sales(closing, closing.get(Match, match["id"]))
    results = {}
    worker = threading.Thread(target=lambda: results.update(
        checkout=fan.post(f"/api/v1/holds/{hold['id']}/checkout", expect_errors=True)))
    worker.start()
    try:
        wait_for_a_lock_wait(engine)  # the checkout's payment is waiting on the match
    finally:
        closing.commit()
        closing.close()
    worker.join(timeout=30)

    assert results["checkout"].status_int == 409
    assert "not on sale (it is closed)" in results["checkout"].json["detail"]
    with engine.connect() as conn:
        sold = conn.execute(text("SELECT count(*) FROM tickets WHERE match_id = :m"), {"m": match["id"]}).scalar_one()
        orders = conn.execute(text("SELECT count(*) FROM orders WHERE match_id = :m"), {"m": match["id"]}).scalar_one()
    assert sold == 0 and orders == 0 and fan.get("/api/v1/wallet").json["balance"] == 100_000
    assert_invariants(engine)


def test_a_hold_made_while_sales_are_closing_waits_and_holds_nothing(staff, customers, engine):
    """The hold's on-sale check reads the match FOR KEY SHARE: with a close flipped but not
    committed, the hold waits for it and then sees the match closed. (Without the lock the
    check passed, the hold's foreign key waited for the close, and the fan got a 201 and
    held seats on a closed match.)"""
    match, *_ = published_match(staff, prices=(1000,))
    (fan,) = customers(1)
    closing = Session(bind=engine)
    match_service.close_sales(closing, closing.get(Match, match["id"]))
    results = {}
    worker = threading.Thread(target=lambda: results.update(
        hold=fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, expect_errors=True)))
    worker.start()
    try:
        wait_for_a_lock_wait(engine)  # the hold is waiting on the match
    finally:
        closing.commit()
        closing.close()
    worker.join(timeout=30)

    assert results["hold"].status_int == 409
    with engine.connect() as conn:
        held = conn.execute(text("SELECT count(*) FROM match_seats WHERE match_id = :m AND status = 'held'"),
                            {"m": match["id"]}).scalar_one()
        holds = conn.execute(text("SELECT count(*) FROM holds WHERE match_id = :m"), {"m": match["id"]}).scalar_one()
    assert held == 0 and holds == 0
    assert_invariants(engine)
