"""Mail when value leaves an account: both fans of a ticket transfer, and the fan after a
withdrawal. Queued in the request's own transaction, once per event (the transfer's row,
the ledger row), so a rolled-back request mails nothing and a repeated one nothing twice.
The transfer is followed through the real sender to the SMTP server; the rest is asserted
on the outbox rows."""
import re

import pytest
import transaction
from sqlalchemy import text

from ticketing.models import get_tm_session
from ticketing.services import notices, tickets, wallet

from ..functional.catalogue_helpers import published_match
from ..purchases import buy
from .conftest import html_part, text_part


class LaterStepFailed(Exception):
    pass


def _outbox(engine):
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT * FROM mail_outbox WHERE template IN ('ticket_received', 'ticket_given', 'withdrawal_paid') "
            "ORDER BY id")).mappings().all()


def test_a_transfer_mails_each_fan_once_through_the_sender(staff, user_factory, engine, deliver):
    match, *_ = published_match(staff, prices=(2500,))
    fan = user_factory(email="ana@example.com", full_name="Ana Novak", verified=True)
    friend = user_factory(email="maja@example.com", full_name="Maja Kovač")
    with engine.begin() as conn:  # Maja reads Slovenian
        conn.execute(text("UPDATE users SET locale = 'sl' WHERE id = :u"), {"u": friend.user["id"]})
    ticket = buy(fan, match["id"], quantity=1)["tickets"][0]
    seat = ticket["seat"]
    deliver()  # the sign-up and receipt mail

    fan.post(f"/api/v1/tickets/{ticket['id']}/transfer", {"email": "maja@example.com"}, status=200)
    arrived = deliver()
    assert sorted(message["To"] for message in arrived) == ["ana@example.com", "maja@example.com"]
    [received] = [message for message in arrived if message["To"] == "maja@example.com"]
    [given] = [message for message in arrived if message["To"] == "ana@example.com"]

    # The giver's name is theirs to choose: in the body, never in a subject the box office signs.
    assert received["Subject"] == "Prejeli ste vstopnico: Tigers vs Eagles"
    assert "Ana Novak" in text_part(received)
    for part in (text_part(received), html_part(received)):
        assert f"{seat['section']}, vrsta {seat['row']}, sedež {seat['number']}" in part
    assert re.search(r"https?://\S+/tickets(\s|$)", text_part(received))  # a link to their tickets
    assert re.search(r'href="http[^"]*/tickets"', html_part(received))

    assert given["Subject"] == "Your ticket for Tigers vs Eagles has left your account"
    assert f"{seat['section']}, row {seat['row']}, seat {seat['number']}" in text_part(given)
    assert "Maja Kovač <maja@example.com>" in text_part(given)
    assert "Maja Kovač &lt;maja@example.com&gt;" in html_part(given)  # HTML is escaped
    assert deliver() == []  # each once


def test_a_withdrawal_queues_one_receipt_with_amount_reference_and_balance(user_factory, engine):
    fan = user_factory(email="luka@example.com", full_name="Luka Dončić", verified=True)
    fan.post("/api/v1/wallet/top-ups", {"amount": 20_000}, status=201)
    key = {"Idempotency-Key": "payout-mail"}
    paid = fan.post("/api/v1/wallet/withdrawals", {"amount": 7000}, headers=key, status=201).json
    fan.post("/api/v1/wallet/withdrawals", {"amount": 7000}, headers=key, status=201)  # a replay
    reference = paid["payout"]["reference"]
    assert reference == f"PO-{paid['transaction']['id']}"  # the ledger row's id

    [row] = _outbox(engine)
    assert (row["template"], row["recipient"], row["user_id"]) == ("withdrawal_paid", "luka@example.com",
                                                                   fan.user["id"])
    assert row["dedupe_key"] == f"withdrawal:{paid['transaction']['id']}"
    # Amounts as the receipt writes them.
    assert row["subject"] == f"€70.00 paid out of your wallet ({reference})"
    assert f"Reference: {reference}" in row["body_text"] and "Balance now: €130.00" in row["body_text"]
    assert "€70.00" in row["body_html"] and "€130.00" in row["body_html"]


def _fan_with_a_ticket(staff, user_factory):
    match, *_ = published_match(staff, prices=(2500,))
    fan, friend = user_factory(verified=True), user_factory()
    return fan, friend, buy(fan, match["id"], quantity=1)["tickets"][0]


def test_a_rolled_back_request_queues_no_mail(staff, user_factory, engine, session_factory):
    """As the app runs a request (pyramid_tm's transaction, joined by zope.sqlalchemy): the
    transfer, the withdrawal and their mail are queued, then a later step fails."""
    fan, friend, ticket = _fan_with_a_ticket(staff, user_factory)
    manager = transaction.TransactionManager(explicit=True)
    with pytest.raises(LaterStepFailed), manager:
        session = get_tm_session(session_factory, manager)
        # The services queue their notices themselves, whoever calls them.
        tickets.transfer_ticket(session, ticket["id"], fan.user["id"], friend.user["email"], "EUR")
        wallet.withdraw(session, fan.user["id"], 1000, "EUR")
        queued = session.execute(text("SELECT count(*) FROM mail_outbox WHERE template IN "
                                      "('ticket_received', 'ticket_given', 'withdrawal_paid')")).scalar_one()
        assert queued == 3  # in the transaction...
        raise LaterStepFailed()
    assert _outbox(engine) == []  # ...and gone with it, with the change it reported
    assert fan.get(f"/api/v1/tickets/{ticket['id']}", status=200)
    assert fan.get("/api/v1/wallet").json["balance"] == 50_000 - 2500


def test_the_same_event_queued_again_mails_once(staff, user_factory, engine, session_factory):
    """A view that queued its notices twice, or one re-run for the same transfer and ledger
    row, adds nothing: the dedupe keys are the transfer's and the ledger row's ids."""
    fan, friend, ticket = _fan_with_a_ticket(staff, user_factory)
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        session = get_tm_session(session_factory, manager)
        transfer = tickets.transfer_ticket(session, ticket["id"], fan.user["id"], friend.user["email"], "EUR")
        entry = wallet.withdraw(session, fan.user["id"], 1000, "EUR")
        for _ in range(2):
            notices.ticket_transferred(session, transfer)
            notices.withdrawal_paid(session, entry)
        ledger_id = entry.id
    assert sorted((row["template"], row["dedupe_key"]) for row in _outbox(engine)) == [
        ("ticket_given", f"transfer:{transfer.id}:given"),
        ("ticket_received", f"transfer:{transfer.id}:received"),
        ("withdrawal_paid", f"withdrawal:{ledger_id}"),
    ]
