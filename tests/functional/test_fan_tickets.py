"""What a fan does with tickets and money after buying: cancel one ticket, withdraw from the
wallet, give a ticket to another fan, print it as a PDF (issue 25, decisions 0058/0059/0065)."""
import io

import pytest
from pypdf import PdfReader
from sqlalchemy import text

from ..conftest import make_user
from ..invariants import assert_invariants
from .catalogue_helpers import published_match
from .test_auth import assert_problem


@pytest.fixture
def customer(testapp, engine):
    """The fan of this module gives tickets away and withdraws money, which waits until they
    have confirmed their address (decision 0056): they have followed their sign-up link.
    The refusal before that is tests/functional/test_unverified_accounts.py."""
    return make_user(testapp, engine, verified=True)


def _buy(staff, fan, quantity=3, price=3000, top_up=50_000, **match_extra):
    match, *_ = published_match(staff, prices=(price,), **match_extra)
    if top_up:
        fan.post("/api/v1/wallet/top-ups", {"amount": top_up}, status=201)
    hold = fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": quantity}, status=201).json
    order = fan.post(f"/api/v1/holds/{hold['id']}/checkout", status=201).json
    return match, order


def _seat_status(engine, match_id, seat_id):
    with engine.connect() as conn:
        return conn.execute(text("SELECT status FROM match_seats WHERE match_id = :m AND seat_id = :s"),
                            {"m": match_id, "s": seat_id}).scalar_one()


# --- cancel one ticket ---------------------------------------------------------------------

def test_cancelling_one_ticket_refunds_its_price_and_frees_its_seat(staff, customer, engine):
    match, order = _buy(staff, customer)
    first, second, third = order["tickets"]
    cancelled = customer.post(f"/api/v1/tickets/{first['id']}/cancel", status=200).json
    assert cancelled["refunded"] == 3000 and cancelled["order_cancelled"] is False
    assert cancelled["ticket"]["status"] == "void" and cancelled["ticket"]["code"] is None
    assert customer.get("/api/v1/wallet").json["balance"] == 50_000 - 9000 + 3000
    assert _seat_status(engine, match["id"], first["seat"]["id"]) == "available"
    again = assert_problem(customer.post(f"/api/v1/tickets/{first['id']}/cancel", status=409), 409)
    assert "already been cancelled" in again["detail"]

    # The whole order afterwards refunds only what is left, once.
    customer.post(f"/api/v1/orders/{order['id']}/cancel", status=200)
    assert customer.get("/api/v1/wallet").json["balance"] == 50_000
    ledger = customer.get("/api/v1/wallet/transactions").json["items"]
    assert [(row["kind"], row["amount"]) for row in ledger[:2]] == [("refund", 6000), ("refund", 3000)]
    assert_invariants(engine)


def test_the_last_ticket_cancelled_cancels_the_order(staff, customer, engine):
    match, order = _buy(staff, customer, quantity=2)
    customer.post(f"/api/v1/tickets/{order['tickets'][0]['id']}/cancel", status=200)
    last = customer.post(f"/api/v1/tickets/{order['tickets'][1]['id']}/cancel", status=200).json
    assert last["order_cancelled"] is True
    assert customer.get(f"/api/v1/orders/{order['id']}").json["status"] == "cancelled"
    assert customer.get("/api/v1/wallet").json["balance"] == 50_000
    assert_invariants(engine)


def test_fans_cannot_cancel_late_or_used_tickets_but_staff_can_and_it_is_audited(staff, customer, engine):
    match, order = _buy(staff, customer)
    used = customer.get(f"/api/v1/tickets/{order['tickets'][0]['id']}").json
    staff.post(f"/api/v1/matches/{match['id']}/check-ins", {"code": used["code"]}, status=200)
    problem = assert_problem(customer.post(f"/api/v1/tickets/{used['id']}/cancel", status=409), 409)
    assert "used at the gate" in problem["detail"]
    with engine.begin() as conn:
        conn.execute(text("UPDATE matches SET refund_cutoff_at = now() - interval '1 minute' WHERE id = :m"),
                     {"m": match["id"]})
    late = order["tickets"][1]["id"]
    problem = assert_problem(customer.post(f"/api/v1/tickets/{late}/cancel", status=409), 409)
    assert "refund window" in problem["detail"]

    staff.post(f"/api/v1/tickets/{late}/cancel", status=200)
    with engine.connect() as conn:
        entry = conn.execute(text("SELECT actor_id, details FROM audit_log WHERE action = 'ticket.refund'")).one()
    assert entry.actor_id == staff.user["id"] and entry.details["amount"] == 3000
    assert customer.get("/api/v1/wallet").json["balance"] == 50_000 - 9000 + 3000
    assert_invariants(engine)


def test_someone_elses_ticket_is_not_found(staff, customer, user_factory, anonymous):
    match, order = _buy(staff, customer, quantity=1)
    stranger = user_factory()
    ticket_id = order["tickets"][0]["id"]
    for url in (f"/api/v1/tickets/{ticket_id}/cancel", f"/api/v1/tickets/{ticket_id}/transfer"):
        assert_problem(stranger.post(url, {"email": "x@example.com"}, status=404), 404)
        anonymous.post(url, {"email": "x@example.com"}, status=401)
    stranger.get(f"/api/v1/tickets/{ticket_id}.pdf", status=404)


# --- withdraw ------------------------------------------------------------------------------

def test_withdrawal_pays_out_writes_the_ledger_and_replays_by_key(customer, engine):
    customer.post("/api/v1/wallet/top-ups", {"amount": 20_000}, status=201)
    key = {"Idempotency-Key": "payout-1"}
    paid = customer.post("/api/v1/wallet/withdrawals", {"amount": 7000}, headers=key, status=201)
    assert paid.json["balance"] == 13_000 and paid.json["transaction"]["kind"] == "withdrawal"
    assert paid.json["payout"]["reference"] == f"PO-{paid.json['transaction']['id']}"
    replay = customer.post("/api/v1/wallet/withdrawals", {"amount": 7000}, headers=key, status=201)
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json == paid.json
    assert customer.get("/api/v1/wallet").json["balance"] == 13_000
    assert_invariants(engine)


def test_withdrawal_limits_and_bad_input_list_every_problem(customer):
    customer.post("/api/v1/wallet/top-ups", {"amount": 100_000}, status=201)
    customer.post("/api/v1/wallet/top-ups", {"amount": 100_000}, status=201)
    customer.post("/api/v1/wallet/top-ups", {"amount": 100_000}, status=201)
    bad = assert_problem(customer.post("/api/v1/wallet/withdrawals", {"amount": 0, "iban": "x"}, status=422), 422)
    assert {error["field"] for error in bad["errors"]} >= {"amount"}
    assert_problem(customer.post("/api/v1/wallet/withdrawals", {"amount": 100_001}, status=422), 422)
    customer.post("/api/v1/wallet/withdrawals", {"amount": 100_000}, status=201)
    customer.post("/api/v1/wallet/withdrawals", {"amount": 100_000}, status=201)
    daily = assert_problem(customer.post("/api/v1/wallet/withdrawals", {"amount": 1}, status=422), 422)
    assert "0 left today" in daily["errors"][0]["message"]
    assert customer.get("/api/v1/wallet").json["balance"] == 100_000


def test_withdrawals_are_limited_per_fan_and_minute(customer, engine):
    """Each payout is a ledger row and a mail: a fan gets 5 a minute (429 past it), each
    answer saying where they stand (RateLimit), and a refused one pays and mails nothing."""
    customer.post("/api/v1/wallet/top-ups", {"amount": 10_000}, status=201)
    for left in (4, 3, 2, 1, 0):
        paid = customer.post("/api/v1/wallet/withdrawals", {"amount": 100}, status=201)
        assert f"r={left}" in paid.headers["RateLimit"]
    refused = customer.post("/api/v1/wallet/withdrawals", {"amount": 100}, status=429)
    assert_problem(refused, 429) and int(refused.headers["Retry-After"]) > 0
    assert customer.get("/api/v1/wallet").json["balance"] == 10_000 - 500
    with engine.connect() as conn:
        mails = conn.execute(text("SELECT count(*) FROM mail_outbox WHERE template = 'withdrawal_paid' "
                                  "AND user_id = :u"), {"u": customer.user["id"]}).scalar_one()
    assert mails == 5
    assert_invariants(engine)


def test_withdrawal_leaves_what_live_holds_need(staff, customer, engine):
    match, *_ = published_match(staff, prices=(4000,))
    customer.post("/api/v1/wallet/top-ups", {"amount": 10_000}, status=201)
    hold = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201).json
    short = assert_problem(customer.post("/api/v1/wallet/withdrawals", {"amount": 2001}, status=409), 409)
    assert (short["balance"], short["reserved"], short["available"]) == (10_000, 8000, 2000)
    customer.post("/api/v1/wallet/withdrawals", {"amount": 2000}, status=201)
    customer.post(f"/api/v1/holds/{hold['id']}/checkout", status=201)  # still paid for
    assert customer.get("/api/v1/wallet").json["balance"] == 0
    assert_problem(customer.post("/api/v1/wallet/withdrawals", {"amount": 1}, status=409), 409)
    assert_invariants(engine)


def test_staff_have_no_wallet_to_withdraw_from(staff):
    staff.post("/api/v1/wallet/withdrawals", {"amount": 100}, status=403)


# --- transfer ------------------------------------------------------------------------------

def test_a_transfer_kills_the_old_code_and_gives_the_recipient_a_new_one(staff, customer, user_factory, engine):
    match, order = _buy(staff, customer, quantity=2)
    friend = user_factory(full_name="Maja Čebular")
    ticket = customer.get(f"/api/v1/tickets/{order['tickets'][0]['id']}").json
    moved = customer.post(f"/api/v1/tickets/{ticket['id']}/transfer", {"email": friend.user["email"].upper()},
                          status=200).json
    assert moved["to"] == {"id": friend.user["id"], "full_name": "Maja Čebular"}

    customer.get(f"/api/v1/tickets/{ticket['id']}", status=404)  # not the sender's any more
    in_order = customer.get(f"/api/v1/orders/{order['id']}").json["tickets"][0]
    assert in_order["transferred"] is True and in_order["code"] is None
    mine = friend.get("/api/v1/tickets").json
    assert [item["id"] for item in mine["items"]] == [ticket["id"]] and mine["total"] == 1
    new_code = mine["items"][0]["code"]
    assert new_code != ticket["code"]

    # The payer cannot take it back: not by cancelling the order, and the recipient cannot
    # cash it in (the refund would be the payer's).
    problem = assert_problem(customer.post(f"/api/v1/orders/{order['id']}/cancel", status=409), 409)
    assert "given to another fan" in problem["detail"]
    assert_problem(friend.post(f"/api/v1/tickets/{ticket['id']}/cancel", status=409), 409)

    rejected = assert_problem(staff.post(f"/api/v1/matches/{match['id']}/check-ins", {"code": ticket["code"]},
                                         status=422), 422)
    assert rejected["errors"][0]["field"] == "code"
    admitted = staff.post(f"/api/v1/matches/{match['id']}/check-ins", {"code": new_code}, status=200).json
    assert admitted["holder_name"] == "Maja Čebular"
    with engine.connect() as conn:
        entry = conn.execute(text("SELECT actor_id, target_id, details FROM audit_log WHERE action = 'ticket.transfer'")).one()
    assert (entry.actor_id, entry.target_id) == (customer.user["id"], ticket["id"])
    assert entry.details["to_user_id"] == friend.user["id"]

    assert_invariants(engine)


def test_transfer_refusals(staff, customer, user_factory, engine):
    match, order = _buy(staff, customer, quantity=3, max_tickets_per_fan=3)
    first, second, third = (t["id"] for t in order["tickets"])
    url = f"/api/v1/tickets/{first}/transfer"
    unknown = assert_problem(customer.post(url, {"email": "nobody@example.com"}, status=422), 422)
    assert unknown["errors"][0]["field"] == "email"
    assert_problem(customer.post(url, {"email": customer.user["email"]}, status=422), 422)
    assert_problem(customer.post(url, {"email": "x@example.com", "extra": 1}, status=422), 422)

    # The recipient's per-fan limit counts their tickets and their live hold.
    full = user_factory()
    full.post("/api/v1/wallet/top-ups", {"amount": 50_000}, status=201)
    full.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 3}, status=201)
    limited = assert_problem(customer.post(url, {"email": full.user["email"]}, status=409), 409)
    assert limited["errors"][0]["field"] == "email"

    friend = user_factory()
    customer.post(f"/api/v1/tickets/{second}/cancel", status=200)
    assert_problem(customer.post(f"/api/v1/tickets/{second}/transfer", {"email": friend.user["email"]},
                                 status=409), 409)
    code = customer.get(f"/api/v1/tickets/{third}").json["code"]
    staff.post(f"/api/v1/matches/{match['id']}/check-ins", {"code": code}, status=200)
    used = assert_problem(customer.post(f"/api/v1/tickets/{third}/transfer", {"email": friend.user["email"]},
                                        status=409), 409)
    assert "used at the gate" in used["detail"]
    with engine.begin() as conn:
        conn.execute(text("UPDATE matches SET starts_at = now() - interval '1 minute', "
                          "sales_close_at = now() - interval '2 minutes', sales_open_at = now() - interval '1 day', "
                          "refund_cutoff_at = now() - interval '3 minutes' WHERE id = :m"), {"m": match["id"]})
    started = assert_problem(customer.post(url, {"email": friend.user["email"]}, status=409), 409)
    assert "before the match starts" in started["detail"]
    assert_invariants(engine)


# --- PDF -----------------------------------------------------------------------------------

def test_the_pdf_ticket_shows_match_seat_holder_and_a_qr_code(staff, user_factory, engine):
    fan = user_factory(full_name="Ana Žagar")
    match, order = _buy(staff, fan, quantity=1)
    ticket = order["tickets"][0]
    response = fan.get(f"/api/v1/tickets/{ticket['id']}.pdf", status=200)
    assert response.content_type == "application/pdf" and response.body.startswith(b"%PDF-")
    assert "no-store" in response.headers["Cache-Control"]
    first_page = PdfReader(io.BytesIO(response.body)).pages[0]
    page_text = first_page.extract_text()
    for expected in ("Tigers vs Eagles", "Arena", ticket["seat"]["section"], "Ana Žagar", f"#{ticket['id']}",
                     "30.00 EUR"):
        assert expected in page_text, expected
    # The QR code is drawn as many small filled squares (vector), not text.
    assert first_page.get_contents().get_data().count(b" re ") > 100
    assert fan.get(f"/api/v1/tickets/{ticket['id']}.pdf").body == response.body  # the same bytes
    staff.get(f"/api/v1/tickets/{ticket['id']}.pdf", status=200)

    fan.post(f"/api/v1/tickets/{ticket['id']}/cancel", status=200)
    assert_problem(fan.get(f"/api/v1/tickets/{ticket['id']}.pdf", status=410), 410)
    fan.get("/api/v1/tickets/abc.pdf", status=404)


def test_transfers_are_limited_per_fan_so_addresses_cannot_be_probed(staff, customer, wsgi_app):
    match, order = _buy(staff, customer, quantity=1)
    settings = wsgi_app.registry.settings
    saved, settings["ratelimit.transfers_per_user_hour"] = settings["ratelimit.transfers_per_user_hour"], 3
    try:
        url = f"/api/v1/tickets/{order['tickets'][0]['id']}/transfer"
        for attempt in range(3):
            assert_problem(customer.post(url, {"email": f"guess-{attempt}@example.com"}, status=422), 422)
        limited = customer.post(url, {"email": "guess-4@example.com"}, status=429)
        assert int(limited.headers["Retry-After"]) > 0
    finally:
        settings["ratelimit.transfers_per_user_hour"] = saved
