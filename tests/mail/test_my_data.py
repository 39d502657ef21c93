"""My data: the export holds everything kept about the fan; deletion anonymises the account,
keeps the orders and the ledger (money is still conserved), and ends every session."""
from sqlalchemy import text

from ..conftest import TEST_PASSWORD
from ..functional.catalogue_helpers import published_match
from ..functional.test_auth import assert_problem
from ..invariants import assert_invariants

DATA = "/api/v1/me/data"
DELETE = "/api/v1/me/deletion"


def bought_and_cancelled(staff, fan):
    match, *_ = published_match(staff, prices=(2500,))
    fan.post("/api/v1/wallet/top-ups", {"amount": 2500}, status=201)
    hold = fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json
    order = fan.post(f"/api/v1/holds/{hold['id']}/checkout", status=201).json
    fan.post(f"/api/v1/orders/{order['id']}/cancel", status=200)  # refunded: 2500 back
    return order


def test_export_has_account_orders_ledger_and_mail(staff, user_factory, deliver):
    fan = user_factory(email="ana@example.com", full_name="Ana Novak")
    order = bought_and_cancelled(staff, fan)
    deliver()
    response = fan.get(DATA, status=200)
    assert response.headers["Cache-Control"] == "no-store"
    data = response.json
    assert data["account"]["email"] == "ana@example.com" and data["account"]["full_name"] == "Ana Novak"
    assert data["wallet"]["balance"] == 2500
    assert [entry["kind"] for entry in data["ledger"]] == ["refund", "payment", "top_up"]
    assert [o["id"] for o in data["orders"]] == [order["id"]]
    assert data["orders"][0]["tickets"][0]["status"] == "void"
    assert {m["template"] for m in data["mail"]} == {"verify_email", "order_receipt", "order_cancelled"}


def test_deletion_is_refused_while_it_would_lose_something(staff, user_factory):
    fan = user_factory()
    bought_and_cancelled(staff, fan)  # 2500 in the wallet
    match, *_ = published_match(staff, name="Second", prices=(1000,))
    fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201)
    body = assert_problem(fan.post(DELETE, {"password": TEST_PASSWORD}, status=409), 409)
    assert {e["field"] for e in body["errors"]} == {"wallet", "holds"}
    assert_problem(fan.post(DELETE, {"password": "not-my-password"}, status=422), 422, "password")


def test_deletion_anonymises_keeps_the_books_and_ends_sessions(staff, user_factory, anonymous, engine, deliver):
    fan = user_factory(email="bor@example.com", full_name="Bor Kranjc")
    order = bought_and_cancelled(staff, fan)
    deliver()
    with engine.begin() as conn:  # spend the refund, so nothing is lost by deleting
        conn.execute(text("UPDATE wallets SET balance = 0 WHERE user_id = :u"), {"u": fan.user["id"]})
        conn.execute(text("INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, currency, reason) "
                          "VALUES (:u, 'payment', 2500, 0, 'EUR', 'spent')"), {"u": fan.user["id"]})
    fan.post("/api/v1/me/verification-email", status=202)  # a mail still in the outbox
    fan.post(DELETE, {"password": TEST_PASSWORD}, status=204)

    assert_problem(fan.get("/api/v1/me", status=401), 401)
    assert_problem(anonymous.post("/api/v1/auth/refresh", {"refresh_token": fan.user["refresh_token"]},
                                  status=401), 401)
    anonymous.post("/api/v1/auth/login", {"email": "bor@example.com", "password": TEST_PASSWORD}, status=401)
    assert deliver() == []  # the unsent mail went with the account
    with engine.connect() as conn:
        user = conn.execute(text("SELECT * FROM users WHERE id = :u"), {"u": fan.user["id"]}).mappings().one()
        kept = conn.execute(text("SELECT count(*) FROM orders WHERE id = :o"), {"o": order["id"]}).scalar_one()
        personal = conn.execute(text(
            "SELECT count(*) FROM mail_outbox WHERE recipient = 'bor@example.com' OR body_text LIKE '%Bor%'"
        )).scalar_one()
    assert user["email"] == f"deleted-{fan.user['id']}@deleted.invalid" and "Bor" not in user["full_name"]
    assert user["deleted_at"] is not None and not user["is_active"]
    assert kept == 1 and personal == 0
    assert_invariants(engine)
    # The address is free again: a new account, not "you already have one".
    anonymous.post("/api/v1/auth/signup", {"email": "bor@example.com", "password": TEST_PASSWORD,
                                           "full_name": "Bor again"}, status=201)
    assert [m["Subject"] for m in deliver()] == ["Confirm your e-mail address"]
