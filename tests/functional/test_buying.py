"""The fan's journey and every way it can go wrong, over HTTP."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from ..invariants import assert_invariants
from .catalogue_helpers import iso, published_match
from .test_auth import assert_problem


def _fund(fan, amount=50_000):
    fan.post("/api/v1/wallet/top-ups", {"amount": amount}, status=201)


def test_fan_journey_top_up_hold_checkout_cancel_refund(staff, customer, anonymous, engine):
    match, _, sections, (category,) = published_match(staff, prices=(4500,))
    assert customer.get("/api/v1/wallet").json == {"balance": 0, "currency": "EUR"}
    _fund(customer, 20_000)
    seats = anonymous.get(f"/api/v1/matches/{match['id']}/seats").json
    hold = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2, "adjacent": True}, status=201).json
    assert hold["total"] == 9000 and hold["status"] == "active"
    (a, b) = hold["seats"]
    assert a["row"] == b["row"] and abs(a["number"] - b["number"]) == 1
    after_hold = anonymous.get(f"/api/v1/matches/{match['id']}/seats", headers={"If-None-Match": f"{seats['etag']}"}).json
    assert sorted(s[0] for s in after_hold["seats"] if s[8] == "held") == sorted([a["id"], b["id"]])

    order = customer.post(f"/api/v1/holds/{hold['id']}/checkout", status=201).json
    assert order["status"] == "paid" and len(order["tickets"]) == 2 and order["total"] == 9000
    assert customer.get("/api/v1/wallet").json["balance"] == 11_000
    assert customer.get(f"/api/v1/holds/{hold['id']}").json["status"] == "checked_out"
    assert_problem(customer.post(f"/api/v1/holds/{hold['id']}/checkout", status=409), 409)
    assert customer.get("/api/v1/orders").json["total"] == 1

    cancelled = customer.post(f"/api/v1/orders/{order['id']}/cancel", status=200).json
    assert cancelled["status"] == "cancelled" and {t["status"] for t in cancelled["tickets"]} == {"void"}
    assert customer.get("/api/v1/wallet").json["balance"] == 20_000
    kinds = [row["kind"] for row in customer.get("/api/v1/wallet/transactions").json["items"]]
    assert kinds == ["refund", "payment", "top_up"]
    assert anonymous.get(f"/api/v1/matches/{match['id']}/summary").json["sold"] == 0
    assert_problem(customer.post(f"/api/v1/orders/{order['id']}/cancel", status=409), 409)
    assert_invariants(engine)


def test_short_wallet_is_402_and_nothing_changes(staff, customer, engine):
    match, *_ = published_match(staff, prices=(4500,))
    _fund(customer, 4000)
    hold = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json
    body = assert_problem(customer.post(f"/api/v1/holds/{hold['id']}/checkout", status=402), 402)
    assert body["balance"] == 4000 and body["amount"] == 4500
    assert customer.get("/api/v1/wallet").json["balance"] == 4000
    assert customer.get(f"/api/v1/holds/{hold['id']}").json["status"] == "active"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM orders")).scalar_one() == 0
    assert_invariants(engine)


def test_expired_hold_is_410_and_its_seats_are_free_at_once(staff, user_factory, engine, anonymous):
    match, *_ = published_match(staff, seats_per_row=2, rows=1, prices=(1000,))
    first, second = user_factory(), user_factory()
    _fund(first)
    hold = first.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201).json
    seat_ids = [s["id"] for s in hold["seats"]]
    assert_problem(second.post(f"/api/v1/matches/{match['id']}/holds", {"seat_ids": seat_ids}, status=409), 409)
    with engine.begin() as conn:
        conn.execute(text("UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = :h"), {"h": hold["id"]})
        conn.execute(text("UPDATE match_seats SET held_until = now() - interval '1 second' WHERE hold_id = :h"), {"h": hold["id"]})
    assert first.get(f"/api/v1/holds/{hold['id']}").json["status"] == "expired"
    assert {s[8] for s in anonymous.get(f"/api/v1/matches/{match['id']}/seats").json["seats"]} == {"available"}
    second.post(f"/api/v1/matches/{match['id']}/holds", {"seat_ids": seat_ids}, status=201)
    assert_problem(first.post(f"/api/v1/holds/{hold['id']}/checkout", status=410), 410)
    assert_invariants(engine)


def test_hold_errors(staff, customer, user_factory, anonymous, engine):
    match, stadium, sections, (category,) = published_match(staff, seats_per_row=3, rows=2, prices=(1000,))
    url = f"/api/v1/matches/{match['id']}/holds"
    assert_problem(anonymous.post(url, {"quantity": 1}, status=401), 401)
    assert_problem(staff.post(url, {"quantity": 1}, status=403), 403)
    assert_problem(customer.post(url, {"seat_ids": [999999999]}, status=422), 422, "seat_ids")
    empty = assert_problem(customer.post(url, {}, status=422), 422)
    assert empty["errors"] == [{"field": "seat_ids",
                                "message": "send seat_ids (chosen seats) or quantity (best available)"}]
    both = assert_problem(customer.post(url, {"seat_ids": [1], "quantity": 1}, status=422), 422)
    assert both["errors"][0]["message"] == "send seat_ids or quantity, not both"
    assert_problem(customer.post(url, {"quantity": 0}, status=422), 422, "quantity")
    # The schema's errors and the service's, in one answer.
    every = assert_problem(customer.post(url, {"seat_ids": [1], "quantity": 1, "adjacent": "yes"}, status=422), 422)
    assert {error["field"] for error in every["errors"]} == {"seat_ids", "adjacent"}
    assert_problem(customer.post(url, {"quantity": 1, "category_id": 999999}, status=422), 422, "category_id")
    assert_problem(customer.post(url, {"quantity": 4, "adjacent": True}, status=409), 409)  # rows of 3
    non_adjacent = customer.post(url, {"quantity": 4}, status=201).json  # falls back to closest seats
    assert len(non_adjacent["seats"]) == 4
    assert_problem(customer.post(url, {"quantity": 7}, status=409), 409)  # above the per-fan limit of 6

    other = user_factory()
    assert_problem(other.get(f"/api/v1/holds/{non_adjacent['id']}", status=404), 404)
    assert_problem(other.delete(f"/api/v1/holds/{non_adjacent['id']}", status=404), 404)
    assert_problem(other.post(f"/api/v1/holds/{non_adjacent['id']}/checkout", status=404), 404)
    staff.get(f"/api/v1/holds/{non_adjacent['id']}", status=200)

    taken = [s["id"] for s in non_adjacent["seats"]]
    conflict = assert_problem(other.post(url, {"seat_ids": taken[:2]}, status=409), 409)
    assert conflict["taken_seat_ids"] == sorted(taken[:2])

    # A new hold replaces the previous one and frees its seats.
    replacement = customer.post(url, {"quantity": 1}, status=201).json
    assert customer.get(f"/api/v1/holds/{non_adjacent['id']}").json["status"] == "replaced"
    assert replacement["seats"][0]["id"] in taken  # the best seat is free again
    customer.delete(f"/api/v1/holds/{replacement['id']}", status=204)
    assert_problem(customer.delete(f"/api/v1/holds/{replacement['id']}", status=410), 410)
    assert_invariants(engine)


def test_holds_only_while_on_sale_and_inside_the_window(staff, customer):
    now = datetime.now(timezone.utc)
    later, *_ = published_match(staff, name="Later", sales_open_at=iso(now + timedelta(days=1)))
    assert_problem(customer.post(f"/api/v1/matches/{later['id']}/holds", {"quantity": 1}, status=409), 409)
    closed, *_ = published_match(staff, name="Closed")
    staff.post(f"/api/v1/matches/{closed['id']}/close", status=200)
    assert_problem(customer.post(f"/api/v1/matches/{closed['id']}/holds", {"quantity": 1}, status=409), 409)


def test_idempotency_replays_and_refuses_a_different_body(customer):
    headers = {"Idempotency-Key": "abc-1"}
    first = customer.post("/api/v1/wallet/top-ups", {"amount": 1000}, headers=headers, status=201)
    again = customer.post("/api/v1/wallet/top-ups", {"amount": 1000}, headers=headers, status=201)
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert_problem(customer.post("/api/v1/wallet/top-ups", {"amount": 2000}, headers=headers, status=422), 422)
    assert customer.get("/api/v1/wallet").json["balance"] == 1000
    # A failed request does not burn its key: fix the body and retry with the same key.
    assert_problem(customer.post("/api/v1/wallet/top-ups", {"amount": 0}, headers={"Idempotency-Key": "k2"}, status=422), 422)
    customer.post("/api/v1/wallet/top-ups", {"amount": 5}, headers={"Idempotency-Key": "k2"}, status=201)
    assert_problem(customer.post("/api/v1/wallet/top-ups", {"amount": 5}, headers={"Idempotency-Key": "x" * 300}, status=422), 422)


def test_a_replayed_hold_or_checkout_carries_the_first_answers_location(staff, customer):
    match, *_ = published_match(staff, prices=(1000,))
    _fund(customer)
    url = f"/api/v1/matches/{match['id']}/holds"
    first = customer.post(url, {"quantity": 2}, headers={"Idempotency-Key": "h-1"}, status=201)
    again = customer.post(url, {"quantity": 2}, headers={"Idempotency-Key": "h-1"}, status=201)
    assert again.headers["Idempotent-Replayed"] == "true" and again.location == first.location
    assert first.location.endswith(f"/api/v1/holds/{first.json['id']}")
    checkout = f"/api/v1/holds/{first.json['id']}/checkout"
    paid = customer.post(checkout, headers={"Idempotency-Key": "c-1"}, status=201)
    replayed = customer.post(checkout, headers={"Idempotency-Key": "c-1"}, status=201)
    assert replayed.location == paid.location and paid.location.endswith(f"/api/v1/orders/{paid.json['id']}")


def test_the_seat_map_takes_several_etags_in_if_none_match(staff, anonymous):
    match, *_ = published_match(staff)
    url = f"/api/v1/matches/{match['id']}/seats"
    etag = anonymous.get(url).headers["ETag"]
    others = ", ".join(f'W/"sm-{match["id"]}-{n:020d}"' for n in range(20))  # ~700 characters
    anonymous.get(url, headers={"If-None-Match": f"{others}, {etag}"}, status=304)


def test_idempotency_keys_are_scoped_per_user(customer, user_factory):
    other = user_factory()
    customer.post("/api/v1/wallet/top-ups", {"amount": 100}, headers={"Idempotency-Key": "same"}, status=201)
    other.post("/api/v1/wallet/top-ups", {"amount": 100}, headers={"Idempotency-Key": "same"}, status=201)
    assert other.get("/api/v1/wallet").json["balance"] == 100


def test_top_up_limits(customer):
    assert_problem(customer.post("/api/v1/wallet/top-ups", {"amount": -5}, status=422), 422, "amount")
    assert_problem(customer.post("/api/v1/wallet/top-ups", {"amount": 100_001}, status=422), 422, "amount")
    assert_problem(customer.post("/api/v1/wallet/top-ups", {"amount": "100"}, status=422), 422, "amount")
    for _ in range(3):
        customer.post("/api/v1/wallet/top-ups", {"amount": 100_000}, status=201)
    assert_problem(customer.post("/api/v1/wallet/top-ups", {"amount": 1}, status=422), 422, "amount")


def test_refund_window_applies_to_fans_not_staff(staff, customer, engine):
    now = datetime.now(timezone.utc)
    match, *_ = published_match(staff, prices=(1000,), refund_cutoff_at=iso(now + timedelta(seconds=2)))
    _fund(customer)
    first = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json
    order = customer.post(f"/api/v1/holds/{first['id']}/checkout", status=201).json
    with engine.begin() as conn:
        conn.execute(text("UPDATE matches SET refund_cutoff_at = now() - interval '1 minute' WHERE id = :m"), {"m": match["id"]})
    assert_problem(customer.post(f"/api/v1/orders/{order['id']}/cancel", status=409), 409)
    staff.post(f"/api/v1/orders/{order['id']}/cancel", status=200)
    assert customer.get("/api/v1/wallet").json["balance"] == 50_000
    assert_invariants(engine)


def test_staff_rights_used_on_their_own_order_are_audited(staff, customer, engine, testapp):
    """A fan promoted to staff may still cancel their own order past the refund window, as
    staff may any order; the cancellation is audited like any other made with staff rights."""
    from ..conftest import TEST_PASSWORD, ApiClient

    match, *_ = published_match(staff, prices=(1000,))
    _fund(customer)
    hold = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json
    order = customer.post(f"/api/v1/holds/{hold['id']}/checkout", status=201).json
    with engine.begin() as conn:
        conn.execute(text("UPDATE matches SET refund_cutoff_at = now() - interval '1 minute' WHERE id = :m"), {"m": match["id"]})
        conn.execute(text("UPDATE users SET role = 'staff' WHERE id = :u"), {"u": customer.user["id"]})
    login = testapp.post_json("/api/v1/auth/login", {"email": customer.user["email"], "password": TEST_PASSWORD}).json
    promoted = ApiClient(testapp, login["access_token"], customer.user)
    promoted.post(f"/api/v1/orders/{order['id']}/cancel", status=200)
    with engine.connect() as conn:
        audited = conn.execute(text("SELECT actor_id FROM audit_log WHERE action = 'order.refund' AND target_id = :o"),
                               {"o": order["id"]}).scalars().all()
    assert audited == [customer.user["id"]]


def test_orders_are_private_and_staff_can_search(staff, customer, user_factory):
    match, *_ = published_match(staff, prices=(1000,))
    _fund(customer)
    hold = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json
    order = customer.post(f"/api/v1/holds/{hold['id']}/checkout", status=201).json
    other = user_factory()
    assert other.get("/api/v1/orders").json["total"] == 0
    assert_problem(other.get(f"/api/v1/orders/{order['id']}", status=404), 404)
    assert_problem(other.post(f"/api/v1/orders/{order['id']}/cancel", status=404), 404)
    found = staff.get(f"/api/v1/orders?email={customer.user['email']}").json
    assert [o["id"] for o in found["items"]] == [order["id"]]
    assert staff.get(f"/api/v1/orders?match_id={match['id']}&status=paid").json["total"] == 1


def test_match_cancellation_refunds_every_order(staff, user_factory, engine, anonymous):
    match, *_ = published_match(staff, prices=(2500,))
    fans = [user_factory() for _ in range(3)]
    for fan in fans:
        _fund(fan, 10_000)
        hold = fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201).json
        fan.post(f"/api/v1/holds/{hold['id']}/checkout", status=201)
    result = staff.post(f"/api/v1/matches/{match['id']}/cancel", status=200).json
    assert result["status"] == "cancelled" and result["refunded_orders"] == 3
    assert all(fan.get("/api/v1/wallet").json["balance"] == 10_000 for fan in fans)
    assert anonymous.get(f"/api/v1/matches/{match['id']}/summary").json["sold"] == 0
    assert_invariants(engine)


def test_sweep_holds_tidies_lapsed_holds(staff, customer, engine, dbsession):
    from ticketing.services.holds import sweep_expired

    match, *_ = published_match(staff, prices=(1000,))
    hold = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 3}, status=201).json
    with engine.begin() as conn:
        conn.execute(text("UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = :h"), {"h": hold["id"]})
        conn.execute(text("UPDATE match_seats SET held_until = now() - interval '1 second' WHERE hold_id = :h"), {"h": hold["id"]})
    assert sweep_expired(dbsession) == (1, 3)
    dbsession.flush()
    assert dbsession.execute(text("SELECT count(*) FROM match_seats WHERE status = 'held'")).scalar_one() == 0


def test_a_hold_body_the_schema_refused_is_checked_without_tripping(staff, customer):
    """The service's field checks also run on a body the schema refused (every bad field at
    once): whatever seat_ids holds then, the answer is a 422, never a 500 (found by fuzzing)."""
    match, *_ = published_match(staff)
    url = f"/api/v1/matches/{match['id']}/holds"
    for body in ({"seat_ids": [{}], "quantity": 2}, {"seat_ids": [[1]]}, {"seat_ids": "1,2"},
                 {"quantity": True}, {"seat_ids": [1, None]}):
        assert_problem(customer.post(url, body, status=422), 422)
