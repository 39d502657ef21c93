"""The races a rush brings to the fan's own tickets and money (issue 25): cancelling one
ticket while the whole order is cancelled, withdrawing during a checkout, giving a ticket
away while it is scanned at the gate. Each really races (threads, real commits) and is
checked against the invariants; each has a control: the same race against the naive
read-then-write version breaks an invariant, so a passing guarded run means something."""
import time

from sqlalchemy import text

from ..functional.catalogue_helpers import published_match
from ..invariants import assert_invariants, violations
from .conftest import race

FANS = 8
WINDOW = 0.05  # the naive versions' gap between "validate" and "write"


def _orders(staff, customers, quantity=2, price=1000, balance=100_000):
    match, *_ = published_match(staff, prices=(price,), rows=3, seats_per_row=10)
    fans = customers(FANS, balance)
    orders = []
    for fan in fans:
        hold = fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": quantity}, status=201).json
        orders.append(fan.post(f"/api/v1/holds/{hold['id']}/checkout", status=201).json)
    return match, fans, orders


# --- one ticket against the whole order ----------------------------------------------------

def test_cancelling_one_ticket_while_the_order_is_cancelled_refunds_each_ticket_once(staff, customers, engine):
    match, fans, orders = _orders(staff, customers)
    calls = []
    for fan, order in zip(fans, orders):
        calls.append(lambda fan=fan, order=order: fan.post(f"/api/v1/orders/{order['id']}/cancel",
                                                           expect_errors=True).status_int)
        calls.append(lambda fan=fan, order=order: fan.post(f"/api/v1/tickets/{order['tickets'][0]['id']}/cancel",
                                                           expect_errors=True).status_int)
    statuses = race(calls, workers=2 * FANS)
    assert set(statuses) <= {200, 409}
    assert all(200 in statuses[i:i + 2] for i in range(0, len(statuses), 2))
    for fan in fans:  # everything came back, exactly once
        assert fan.get("/api/v1/wallet").json["balance"] == 100_000
    assert_invariants(engine)


def _naive_cancel_ticket(engine, ticket_id):
    """Validate, then void and refund, with no lock and no condition (the bug)."""
    with engine.begin() as conn:
        row = conn.execute(text(
            "SELECT t.status, t.price, t.order_id, t.match_id, t.seat_id, o.user_id, o.status AS order_status "
            "FROM tickets t JOIN orders o ON o.id = t.order_id WHERE t.id = :t"), {"t": ticket_id}).one()
        if row.status != "valid" or row.order_status != "paid":
            return False
        time.sleep(WINDOW)
        conn.execute(text("UPDATE tickets SET status = 'void' WHERE id = :t"), {"t": ticket_id})
        conn.execute(text("UPDATE match_seats SET status = 'available', order_id = NULL "
                          "WHERE match_id = :m AND seat_id = :s AND order_id = :o"),
                     {"m": row.match_id, "s": row.seat_id, "o": row.order_id})
        balance = conn.execute(text("UPDATE wallets SET balance = balance + :p WHERE user_id = :u RETURNING balance"),
                               {"p": row.price, "u": row.user_id}).scalar_one()
        conn.execute(text("INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, currency, order_id) "
                          "VALUES (:u, 'refund', :p, :b, 'EUR', :o)"),
                     {"u": row.user_id, "p": row.price, "b": balance, "o": row.order_id})
        return True


def test_control_a_naive_one_ticket_cancellation_refunds_twice(staff, customers, engine):
    match, fans, orders = _orders(staff, customers)
    calls = []
    for fan, order in zip(fans, orders):
        calls.append(lambda fan=fan, order=order: fan.post(f"/api/v1/orders/{order['id']}/cancel",
                                                           expect_errors=True).status_int)
        calls.append(lambda order=order: _naive_cancel_ticket(engine, order["tickets"][0]["id"]))
    race(calls, workers=2 * FANS)
    broken = violations(engine)
    assert "every order was paid for once, and each voided ticket refunded once (to the payer)" in broken, \
        "the control race did not overlap; the guarded test above proves nothing"


# --- withdrawing during a checkout ---------------------------------------------------------

def _holds(staff, customers):
    """Each fan: 10,000 in the wallet and a live hold of 8,000."""
    match, *_ = published_match(staff, prices=(4000,), rows=3, seats_per_row=10)
    fans = customers(FANS, 10_000)
    holds = [fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201).json for fan in fans]
    return fans, holds


def test_a_withdrawal_during_a_checkout_never_leaves_the_checkout_short(staff, customers, engine):
    fans, holds = _holds(staff, customers)
    calls = []
    for fan, hold in zip(fans, holds):
        calls.append(lambda fan=fan, hold=hold: fan.post(f"/api/v1/holds/{hold['id']}/checkout",
                                                         expect_errors=True).status_int)
        # All that is free (2,000) for half the fans, a cent more for the others.
        amount = 2000 if fan.user["id"] % 2 else 2001
        calls.append(lambda fan=fan, amount=amount: fan.post("/api/v1/wallet/withdrawals", {"amount": amount},
                                                             expect_errors=True).status_int)
    statuses = race(calls, workers=2 * FANS)
    for fan, checkout, withdrawal in zip(fans, statuses[0::2], statuses[1::2]):
        assert checkout == 201  # the money the hold needed was kept for it
        assert withdrawal == (201 if fan.user["id"] % 2 else 409)
        assert fan.get("/api/v1/wallet").json["balance"] == (0 if fan.user["id"] % 2 else 2000)
    assert_invariants(engine)


def _naive_withdraw(engine, user_id, amount):
    """Read the balance and the holds, then write the new balance back (a lost update)."""
    with engine.begin() as conn:
        balance = conn.execute(text("SELECT balance FROM wallets WHERE user_id = :u"), {"u": user_id}).scalar_one()
        reserved = conn.execute(text("SELECT coalesce(sum(total), 0) FROM holds WHERE user_id = :u "
                                     "AND status = 'active' AND expires_at > now()"), {"u": user_id}).scalar_one()
        if balance - amount < reserved:
            return False
        time.sleep(WINDOW)
        conn.execute(text("UPDATE wallets SET balance = :b WHERE user_id = :u"), {"b": balance - amount, "u": user_id})
        conn.execute(text("INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, currency) "
                          "VALUES (:u, 'withdrawal', :a, :b, 'EUR')"), {"u": user_id, "a": amount, "b": balance - amount})
        return True


def test_control_a_naive_withdrawal_loses_the_checkouts_debit(staff, customers, engine):
    fans, holds = _holds(staff, customers)
    calls = []
    for fan, hold in zip(fans, holds):
        calls.append(lambda fan=fan, hold=hold: fan.post(f"/api/v1/holds/{hold['id']}/checkout",
                                                         expect_errors=True).status_int)
        calls.append(lambda fan=fan: _naive_withdraw(engine, fan.user["id"], 2000))
    race(calls, workers=2 * FANS)
    broken = violations(engine)
    assert "every wallet balance equals its ledger (top-ups - payments + refunds - reversals - withdrawals)" in broken, \
        "the control race did not overlap; the guarded test above proves nothing"


# --- giving a ticket away while it is scanned ----------------------------------------------

def _tickets_and_friends(staff, customers, engine):
    match, fans, orders = _orders(staff, customers, quantity=1)
    friends = customers(FANS, 0)
    with engine.connect() as conn:
        emails = [conn.execute(text("SELECT email FROM users WHERE id = :u"), {"u": f.user["id"]}).scalar_one()
                  for f in friends]
    codes = [fan.get(f"/api/v1/tickets/{order['tickets'][0]['id']}").json["code"] for fan, order in zip(fans, orders)]
    return match, fans, orders, emails, codes


def test_a_transfer_racing_a_gate_scan_lets_exactly_one_through(staff, customers, engine):
    match, fans, orders, emails, codes = _tickets_and_friends(staff, customers, engine)
    calls = []
    for fan, order, email, code in zip(fans, orders, emails, codes):
        ticket_id = order["tickets"][0]["id"]
        calls.append(lambda code=code: staff.post(f"/api/v1/matches/{match['id']}/check-ins", {"code": code},
                                                  expect_errors=True).status_int)
        calls.append(lambda fan=fan, ticket_id=ticket_id, email=email: fan.post(
            f"/api/v1/tickets/{ticket_id}/transfer", {"email": email}, expect_errors=True).status_int)
    statuses = race(calls, workers=2 * FANS)
    with engine.connect() as conn:
        for fan, order, scan, transfer in zip(fans, orders, statuses[0::2], statuses[1::2]):
            assert sorted((scan, transfer)) in ([200, 409], [200, 422]), (scan, transfer)
            row = conn.execute(text("SELECT user_id, checked_in_at FROM tickets WHERE id = :t"),
                               {"t": order["tickets"][0]["id"]}).one()
            if scan == 200:  # admitted with the fan's code: still the fan's ticket
                assert row.user_id == fan.user["id"] and transfer == 409
            else:  # given away first: the old code was dead at the gate
                assert row.checked_in_at is None and row.user_id != fan.user["id"] and scan == 422
    assert_invariants(engine)


def _naive_transfer(engine, ticket_id, to_user_id):
    """Check the ticket is unused, then move it with no condition (the bug)."""
    with engine.begin() as conn:
        row = conn.execute(text("SELECT user_id, match_id, status, checked_in_at, code_version FROM tickets "
                                "WHERE id = :t"), {"t": ticket_id}).one()
        if row.status != "valid" or row.checked_in_at is not None:
            return False
        time.sleep(WINDOW)
        conn.execute(text("UPDATE tickets SET user_id = :to, code_version = :v WHERE id = :t"),
                     {"to": to_user_id, "v": row.code_version + 1, "t": ticket_id})
        conn.execute(text("INSERT INTO ticket_transfers (ticket_id, match_id, from_user_id, to_user_id, from_version) "
                          "VALUES (:t, :m, :f, :to, :v)"),
                     {"t": ticket_id, "m": row.match_id, "f": row.user_id, "to": to_user_id, "v": row.code_version})
        return True


def test_control_a_naive_transfer_hands_over_a_ticket_already_used(staff, customers, engine):
    match, fans, orders = _orders(staff, customers, quantity=1)
    friends = customers(FANS, 0)
    codes = [fan.get(f"/api/v1/tickets/{order['tickets'][0]['id']}").json["code"] for fan, order in zip(fans, orders)]
    calls = []
    for order, friend, code in zip(orders, friends, codes):
        calls.append(lambda code=code: staff.post(f"/api/v1/matches/{match['id']}/check-ins", {"code": code},
                                                  expect_errors=True).status_int)
        calls.append(lambda order=order, friend=friend: _naive_transfer(engine, order["tickets"][0]["id"],
                                                                        friend.user["id"]))
    race(calls, workers=2 * FANS)
    broken = violations(engine)
    assert "no ticket was given away after it was used at the gate" in broken, \
        "the control race did not overlap; the guarded test above proves nothing"


def test_a_transfer_racing_the_orders_cancellation_never_refunds_a_given_ticket(staff, customers, engine):
    """The payer cancels the order while giving one of its tickets away: either the order is
    refunded and nothing is given, or the ticket is given and the cancellation refused. (Both
    take the payer's wallet lock first; the cancellation then counts given tickets under the
    tickets' row locks.)"""
    match, fans, orders, emails, codes = _tickets_and_friends(staff, customers, engine)
    calls = []
    for fan, order, email in zip(fans, orders, emails):
        ticket_id = order["tickets"][0]["id"]
        calls.append(lambda fan=fan, order=order: fan.post(f"/api/v1/orders/{order['id']}/cancel",
                                                           expect_errors=True).status_int)
        calls.append(lambda fan=fan, ticket_id=ticket_id, email=email: fan.post(
            f"/api/v1/tickets/{ticket_id}/transfer", {"email": email}, expect_errors=True).status_int)
    statuses = race(calls, workers=2 * FANS)
    with engine.connect() as conn:
        for fan, order, cancel, transfer in zip(fans, orders, statuses[0::2], statuses[1::2]):
            assert sorted((cancel, transfer)) == [200, 409], (cancel, transfer)
            row = conn.execute(text("SELECT user_id, status FROM tickets WHERE id = :t"),
                               {"t": order["tickets"][0]["id"]}).one()
            if cancel == 200:
                assert row.status == "void" and row.user_id == fan.user["id"]
            else:
                assert row.status == "valid" and row.user_id != fan.user["id"]
    assert_invariants(engine)
