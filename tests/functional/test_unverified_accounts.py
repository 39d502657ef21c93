"""Decision 0056 enforced: an account whose address is not confirmed may not give a ticket
away or withdraw money. The answer is a 403 ``email-not-verified`` problem, given before
anything is written: the ticket stays the fan's, the balance and the ledger do not move, no
mail is queued, a transfer attempt is not counted against the hourly limit, and the
Idempotency-Key of a refused withdrawal stays free, so the same key pays out once the fan
has followed the link."""
from sqlalchemy import text

from ..conftest import verify_email
from ..invariants import assert_invariants
from .catalogue_helpers import published_match
from .test_auth import assert_problem

NOT_VERIFIED = "urn:ticketing:problem:email-not-verified"
VALUE_MAIL = ("ticket_received", "ticket_given", "withdrawal_paid")


def _mail(engine, template=None):
    """(template, recipient) of every transfer and withdrawal message queued so far."""
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT template, recipient FROM mail_outbox WHERE template = ANY(:t) ORDER BY id"),
            {"t": [template] if template else list(VALUE_MAIL)},
        ).all()


def _refused(response):
    body = assert_problem(response, 403)
    assert body["type"] == NOT_VERIFIED
    assert "/api/v1/me/verification-email" in body["detail"]  # it says what to do
    return body


def test_an_unverified_fan_cannot_give_a_ticket_away_until_they_confirm(staff, customer, user_factory, engine):
    match, *_ = published_match(staff, prices=(3000,))
    customer.post("/api/v1/wallet/top-ups", {"amount": 10_000}, status=201)
    hold = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json
    ticket = customer.post(f"/api/v1/holds/{hold['id']}/checkout", status=201).json["tickets"][0]
    friend = user_factory(full_name="Maja Kovač")
    url = f"/api/v1/tickets/{ticket['id']}/transfer"

    body = _refused(customer.post(url, {"email": friend.user["email"]}, status=403))
    assert "give a ticket to another fan" in body["detail"]
    # Nothing changed: still the fan's ticket with the same code, no transfer, no audit
    # entry, no mail, and the refused attempt was not counted against the hourly limit.
    assert customer.get(f"/api/v1/tickets/{ticket['id']}", status=200).json["code"] == ticket["code"]
    assert friend.get("/api/v1/tickets").json["total"] == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ticket_transfers")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM audit_log WHERE action = 'ticket.transfer'")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM rate_limit_counters WHERE key = :k"),
                            {"k": f"transfers:user:{customer.user['id']}"}).scalar_one() == 0
    assert _mail(engine) == []

    verify_email(customer, engine)
    moved = customer.post(url, {"email": friend.user["email"]}, status=200).json
    assert moved["to"]["id"] == friend.user["id"]
    assert [item["id"] for item in friend.get("/api/v1/tickets").json["items"]] == [ticket["id"]]
    # Exactly one mail to each fan.
    assert sorted(_mail(engine)) == [("ticket_given", customer.user["email"]),
                                     ("ticket_received", friend.user["email"])]
    assert_invariants(engine)


def test_an_unverified_fan_cannot_withdraw_and_the_same_key_pays_out_once_confirmed(customer, engine):
    customer.post("/api/v1/wallet/top-ups", {"amount": 20_000}, status=201)
    key = {"Idempotency-Key": "payout-before-confirming"}

    body = _refused(customer.post("/api/v1/wallet/withdrawals", {"amount": 7000}, headers=key, status=403))
    assert "withdraw money" in body["detail"]
    # A retry with the same key is refused the same way: the 403 was not stored as its answer.
    again = customer.post("/api/v1/wallet/withdrawals", {"amount": 7000}, headers=key, status=403)
    assert "Idempotent-Replayed" not in again.headers
    _refused(again)
    assert customer.get("/api/v1/wallet").json["balance"] == 20_000
    assert [row["kind"] for row in customer.get("/api/v1/wallet/transactions").json["items"]] == ["top_up"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM idempotency_keys WHERE user_id = :u"),
                            {"u": customer.user["id"]}).scalar_one() == 0  # the claim was released
    assert _mail(engine) == []

    verify_email(customer, engine)
    paid = customer.post("/api/v1/wallet/withdrawals", {"amount": 7000}, headers=key, status=201)
    assert "Idempotent-Replayed" not in paid.headers  # it ran now, for the first time
    assert paid.json["balance"] == 13_000 and paid.json["transaction"]["kind"] == "withdrawal"
    replay = customer.post("/api/v1/wallet/withdrawals", {"amount": 7000}, headers=key, status=201)
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json == paid.json
    assert customer.get("/api/v1/wallet").json["balance"] == 13_000
    assert _mail(engine) == [("withdrawal_paid", customer.user["email"])]  # once, not per replay
    assert_invariants(engine)

