"""Money controls on staff credits (caps, confirmation, approval, reversal) and the override
a refund of a ticket already used at the gate needs. Defaults: at most 500,00 € a credit,
2.000,00 € a staff member's day, approval above 200,00 € (ticketing/settings.py)."""
from sqlalchemy import text

from ticketing.services import credits

from .conftest import field_error, flashes
from ..functional.catalogue_helpers import published_match

NBSP = "\xa0"


def _credit(client, fan_id, amount, reason="goodwill", status=303):
    """Fill the credit form, then confirm it; returns the confirmation page and the answer."""
    page = client.get(f"/admin/users/{fan_id}")
    confirm = client.submit(page, "top-up-form", amount=amount, reason=reason, status=200)
    return confirm, client.submit(confirm, "credit-confirm-form", status=status)


def _audit(engine, action):
    with engine.connect() as conn:
        return conn.execute(text("SELECT details FROM audit_log WHERE action = :a ORDER BY id"), {"a": action}).scalars().all()


def test_caps_and_reason_are_checked_together_and_a_confirmation_credits_once(staff_admin, user_factory, engine):
    fan = user_factory(full_name="Ana Novak")
    page = staff_admin.get(f"/admin/users/{fan.user['id']}")
    page = staff_admin.submit(page, "top-up-form", amount="1000000", reason="  ", status=422)
    assert field_error(page, "top_up", "amount") == f"Amount (EUR) must be at most 500,00{NBSP}€ for one credit"
    assert field_error(page, "top_up", "reason").startswith("Reason is required")

    confirm, response = _credit(staff_admin, fan.user["id"], "123.45", "late gate")
    assert confirm.html.find(id="credit-amount").get_text() == f"123,45{NBSP}€"
    assert confirm.html.find(id="credit-words").get_text() == "one hundred and twenty-three euro, forty-five cents"
    assert confirm.html.find(id="credit-approval") is None
    assert f"the balance is 123,45{NBSP}€" in " ".join(flashes(response.follow()))
    # The same confirmation sent again (a double click, a reload) credits nothing more.
    staff_admin.submit(confirm, "credit-confirm-form")
    assert fan.get("/api/v1/wallet").json["balance"] == 12_345
    # The audit entry reads as money, not minor units.
    assert [(d["amount"], d["currency"], d["reason"]) for d in _audit(engine, "wallet.credit")] == [
        ("123.45", "EUR", "late gate")]
    assert "amount: 123.45" in staff_admin.get("/admin/audit?action=wallet.credit").text


def test_above_the_threshold_an_other_admin_approves(login_as, user_factory, engine):
    staff, first_admin, second_admin = login_as("staff"), login_as("admin"), login_as("admin")
    fan = user_factory()
    confirm, response = _credit(staff, fan.user["id"], "300", "damaged seat, two matches")
    assert "another administrator approves" in " ".join(confirm.html.find(id="credit-approval").get_text(" ").split())
    assert "waits for an administrator's approval" in " ".join(flashes(response.follow()))
    assert fan.get("/api/v1/wallet").json["balance"] == 0
    assert not staff.get("/admin/credits").html.find("button", string="Approve")  # staff see it, cannot approve
    with engine.connect() as conn:
        credit_id = conn.execute(text("SELECT id FROM wallet_credits WHERE status = 'pending'")).scalar_one()
    staff.post(f"/admin/credits/{credit_id}/approve", status=403)

    page = first_admin.get("/admin/credits")
    assert fan.user["email"] in page.text and f"300,00{NBSP}€" in page.text
    assert page.html.find("button", string="Approve")
    response = first_admin.post(f"/admin/credits/{credit_id}/approve", {"back": "list"})
    assert response.location.endswith("/admin/credits")
    assert f"Approved: 300,00{NBSP}€" in " ".join(flashes(response.follow()))
    assert fan.get("/api/v1/wallet").json["balance"] == 30_000
    page = first_admin.post(f"/admin/credits/{credit_id}/approve").follow()
    assert "already been approved" in " ".join(flashes(page))

    # An admin's own large credit waits for the other admin; they cannot approve it themselves.
    _credit(first_admin, fan.user["id"], "250", "refund of a parking fee")
    with engine.connect() as conn:
        own = conn.execute(text("SELECT id FROM wallet_credits WHERE status = 'pending'")).scalar_one()
    page = first_admin.post(f"/admin/credits/{own}/approve").follow()
    assert "another administrator must approve it" in " ".join(flashes(page))
    page = second_admin.post(f"/admin/credits/{own}/reject").follow()
    assert "Rejected" in " ".join(flashes(page))
    assert fan.get("/api/v1/wallet").json["balance"] == 30_000
    with engine.connect() as conn:  # a rejected credit no longer counts towards the day
        day_total = conn.execute(text("SELECT total FROM staff_credit_days WHERE staff_id = :s"),
                                 {"s": first_admin.user["id"]}).scalar_one()
    assert day_total == 0
    assert [d["amount"] for d in _audit(engine, "wallet.credit.approve")] == ["300.00"]
    assert [d["amount"] for d in _audit(engine, "wallet.credit.reject")] == ["250.00"]


def test_reversal_is_a_counter_entry_and_never_takes_the_wallet_negative(staff_admin, user_factory, engine):
    fan = user_factory()
    _credit(staff_admin, fan.user["id"], "40", "wrong fan")
    with engine.connect() as conn:
        credit_id = conn.execute(text("SELECT id FROM wallet_credits")).scalar_one()
    page = staff_admin.get(f"/admin/users/{fan.user['id']}")
    page = staff_admin.submit(page, f"reverse-{credit_id}-form", reason="", status=422)
    assert field_error(page, f"reverse-{credit_id}", "reason").startswith("Why take it back is required")
    response = staff_admin.submit(page, f"reverse-{credit_id}-form", reason="credited the wrong fan")
    assert f"Reversed: 40,00{NBSP}€" in " ".join(flashes(response.follow()))
    ledger = fan.get("/api/v1/wallet/transactions").json["items"]
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in ledger] == [("reversal", 4000, 0), ("top_up", 4000, 4000)]
    staff_admin.post(f"/admin/credits/{credit_id}/reverse", {"reason": "again"}, status=409)

    # Money already spent cannot be taken back: refused, and nothing changes.
    _credit(staff_admin, fan.user["id"], "30", "goodwill")
    with engine.begin() as conn:
        second = conn.execute(text("SELECT max(id) FROM wallet_credits")).scalar_one()
        conn.execute(text("UPDATE wallets SET balance = 1000 WHERE user_id = :u"), {"u": fan.user["id"]})
        conn.execute(text("INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, currency) "
                          "VALUES (:u, 'payment', 2000, 1000, 'EUR')"), {"u": fan.user["id"]})
    page = staff_admin.post(f"/admin/credits/{second}/reverse", {"reason": "oops"}, status=409)
    assert "already spent part of this credit" in page.html.select_one(".error-summary").get_text(" ")
    assert fan.get("/api/v1/wallet").json["balance"] == 1000
    with engine.connect() as conn:
        assert conn.execute(text("SELECT reversed_at FROM wallet_credits WHERE id = :c"), {"c": second}).scalar_one() is None


def test_the_daily_cap_counts_each_staff_members_credits(dbsession):
    """The service with small caps: 100,00 a credit, 250,00 a day, approval above 100,00."""
    rules = credits.CreditRules(per_credit_max=10_000, daily_max=25_000, approval_above=10_000)
    staff_ids = dbsession.execute(text(
        "INSERT INTO users (email, full_name, password_hash, role) SELECT 'cap-' || g || '@example.com', 'S', 'x', "
        "'staff' FROM generate_series(1, 3) g RETURNING id")).scalars().all()
    fan, one, other = staff_ids

    def credit(staff, amount, key):
        return credits.request_credit(dbsession, rules, user_id=fan, amount=amount, currency="EUR", reason="r",
                                      staff_id=staff, request_key=key)

    credit(one, 10_000, "a"), credit(one, 10_000, "b")
    try:
        credit(one, 6_000, "c")
        raise AssertionError("the daily cap let 260,00 through")
    except credits.ValidationFailed as problem:
        assert problem.errors[0]["field"] == "amount"
        assert "you have credited 200,00\xa0€ today, 50,00\xa0€ is left" in problem.errors[0]["message"]
    credit(one, 5_000, "d")  # exactly up to the cap
    credit(other, 10_000, "e")  # another staff member's day is their own
    assert credits.credited_today(dbsession, rules, one) == 25_000


def test_refunding_a_ticket_used_at_the_gate_needs_an_override_and_a_reason(staff_admin, user_factory, engine):
    match, *_ = published_match(staff_admin.api, seats_per_row=4, rows=1, prices=(4000,))
    match_id = match["id"]
    fan = user_factory()
    fan.post("/api/v1/wallet/top-ups", {"amount": 50_000}, status=201)
    hold = fan.post(f"/api/v1/matches/{match_id}/holds", {"quantity": 2}, status=201).json
    order = fan.post(f"/api/v1/holds/{hold['id']}/checkout", status=201).json
    staff_admin.api.post(f"/api/v1/matches/{match_id}/check-ins", {"code": order["tickets"][0]["code"]}, status=200)

    # The API says the same, naming both fields, and takes the override in the body.
    body = staff_admin.api.post(f"/api/v1/orders/{order['id']}/cancel", {"override_admitted": True}, status=409).json
    assert [e["field"] for e in body["errors"]] == ["reason"]
    body = staff_admin.api.post(f"/api/v1/orders/{order['id']}/cancel", status=409).json
    assert [e["field"] for e in body["errors"]] == ["override_admitted", "reason"]

    page = staff_admin.get(f"/admin/orders/{order['id']}/refund")
    page = staff_admin.submit(page, "refund-form", status=409)
    assert "must be confirmed: 1 ticket of this order already went through the gate" in \
        field_error(page, "refund", "override_admitted")
    assert "is required to refund tickets already used" in field_error(page, "refund", "reason")
    page = staff_admin.submit(page, "refund-form", override_admitted=True, reason="", status=409)
    assert field_error(page, "refund", "override_admitted") is None and field_error(page, "refund", "reason")
    assert fan.get(f"/api/v1/orders/{order['id']}").json["status"] == "paid"

    response = staff_admin.submit(page, "refund-form", override_admitted=True, reason="steward admitted the wrong fan")
    assert "refunded" in " ".join(flashes(response.follow()))
    assert fan.get("/api/v1/wallet").json["balance"] == 50_000
    (details,) = _audit(engine, "order.refund")
    assert details == {"amount": "80.00", "currency": "EUR", "reason": "steward admitted the wrong fan",
                       "override_admitted": True}


def test_the_form_says_how_much_of_the_day_is_left(staff_admin, user_factory, engine):
    fan = user_factory()
    with engine.begin() as conn:  # 1.900,00 € credited earlier today
        conn.execute(text("INSERT INTO staff_credit_days (staff_id, day, total) "
                          "VALUES (:s, (now() AT TIME ZONE 'Europe/Ljubljana')::date, 190000)"),
                     {"s": staff_admin.user["id"]})
    page = staff_admin.get(f"/admin/users/{fan.user['id']}")
    page = staff_admin.submit(page, "top-up-form", amount="150", reason="goodwill", status=422)
    assert field_error(page, "top_up", "amount") == (
        f"Amount (EUR) would pass your daily limit of 2.000,00{NBSP}€: you have credited 1.900,00{NBSP}€ today, "
        f"100,00{NBSP}€ is left")
    confirm, _ = _credit(staff_admin, fan.user["id"], "100")
    assert fan.get("/api/v1/wallet").json["balance"] == 10_000
    staff_admin.submit(confirm, "credit-confirm-form")  # the same confirmation again: no error, no credit
    assert fan.get("/api/v1/wallet").json["balance"] == 10_000
