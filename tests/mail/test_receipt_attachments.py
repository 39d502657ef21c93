"""The receipt carries the tickets as PDF files, end to end through the API, the sender and
the real SMTP server: one application/pdf part per ticket the buyer can still use when the
mail leaves (not one cancelled or given away before), each the very PDF the ticket's own
endpoint serves; a retried send carries the same bytes under the same Message-ID; and an
order larger than ``MAX_ATTACHED_TICKETS`` is attached in part and linked in full."""
import email
import email.policy
import io
import re
import smtplib
from datetime import timedelta

from pypdf import PdfReader
from sqlalchemy import text

from ticketing.services import mail, notices

from ..functional.catalogue_helpers import published_match
from ..purchases import buy
from .conftest import html_part, text_part

RECEIPT_SUBJECT = "Your tickets: Tigers vs Eagles"


def receipt_to(messages, address):
    """The one receipt among ``messages`` (other notices may go out in the same round)."""
    [receipt] = [m for m in messages if m["To"] == address and m["Subject"] == RECEIPT_SUBJECT]
    return receipt


def pdf_attachments(message):
    """``{filename: bytes}`` of the message's application/pdf parts, in message order."""
    return {part.get_filename(): part.get_content() for part in message.iter_attachments()
            if part.get_content_type() == "application/pdf"}


def test_each_ticket_still_usable_at_send_time_is_attached_as_its_pdf(staff, user_factory, deliver):
    match, *_ = published_match(staff, prices=(2500,))
    fan = user_factory(full_name="Ana Žagar", verified=True)  # giving a ticket away needs it (0056)
    friend = user_factory(full_name="Maja Čebular")
    deliver()
    order = buy(fan, match["id"], quantity=3)
    cancelled, given, kept = order["tickets"]
    # Both before the sender's round: the receipt is composed from the tickets as they are then.
    fan.post(f"/api/v1/tickets/{cancelled['id']}/cancel", status=200)
    fan.post(f"/api/v1/tickets/{given['id']}/transfer", {"email": friend.user["email"]}, status=200)

    receipt = receipt_to(deliver(), fan.user["email"])
    attached = pdf_attachments(receipt)
    assert list(attached) == [f"ticket-{kept['id']}.pdf"]
    pdf = attached[f"ticket-{kept['id']}.pdf"]
    assert pdf.startswith(b"%PDF-")
    page_text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    for expected in ("Tigers vs Eagles", kept["seat"]["section"], "Ana Žagar", f"#{kept['id']}"):
        assert expected in page_text, expected
    assert re.search(rf"Row\s+{re.escape(kept['seat']['row'])}\s+Seat\s+{kept['seat']['number']}\b", page_text)
    # Byte for byte the ticket's own PDF, so its QR code is the ticket's current gate code.
    assert fan.get(f"/api/v1/tickets/{kept['id']}.pdf", status=200).body == pdf

    body = text_part(receipt)
    assert kept["code"] in body and "Your tickets are attached as PDF files" in body
    assert "attached as PDF files" in html_part(receipt)
    # The given ticket's code is the recipient's now: the buyer's receipt does not show it.
    friends_code = friend.get(f"/api/v1/tickets/{given['id']}").json["code"]
    assert friends_code not in body and "code: transferred" in body and "code: void" in body
    for ticket in order["tickets"]:  # every ticket is still linked
        assert f"/tickets/{ticket['id']}" in body


class RefusingTransport:
    """A server that reads the whole message, then refuses it for now (451 after DATA)."""

    def __init__(self):
        self.refused = []

    def send(self, message):
        mime = message.to_message()
        mime.policy = mail.SMTP_POLICY  # the bytes the SMTP transport would send
        self.refused.append(email.message_from_bytes(mime.as_bytes(), policy=email.policy.default))
        raise smtplib.SMTPDataError(451, b"Try again later")


def test_a_retried_receipt_carries_the_same_pdfs_under_the_same_message_id(staff, user_factory, deliver, engine):
    match, *_ = published_match(staff, prices=(2500,))
    fan = user_factory()
    deliver()
    order = buy(fan, match["id"], quantity=2)
    refusing = RefusingTransport()
    assert deliver(transport=refusing) == []
    [first_try] = refusing.refused
    with engine.connect() as conn:
        retry_at = conn.execute(text("SELECT next_attempt_at FROM mail_outbox WHERE dedupe_key = :k"),
                                {"k": f"receipt:{order['id']}"}).scalar_one()

    receipt = receipt_to(deliver(now=retry_at + timedelta(seconds=1)), fan.user["email"])
    assert receipt["Message-ID"] == first_try["Message-ID"]
    assert len(pdf_attachments(receipt)) == 2
    # ReportLab's invariant mode: no creation date or random document id in the bytes.
    assert pdf_attachments(receipt) == pdf_attachments(first_try)
    assert text_part(receipt) == text_part(first_try)


def test_an_order_above_the_bound_is_attached_in_part_and_linked_in_full(staff, user_factory, deliver,
                                                                        monkeypatch):
    monkeypatch.setattr(notices, "MAX_ATTACHED_TICKETS", 2)  # the sender's composer reads it when it runs
    match, *_ = published_match(staff, prices=(2500,))
    fan = user_factory()
    deliver()
    order = buy(fan, match["id"], quantity=3)
    receipt = receipt_to(deliver(), fan.user["email"])
    first, second, third = order["tickets"]  # in seat order, as the receipt lists them
    assert list(pdf_attachments(receipt)) == [f"ticket-{first['id']}.pdf", f"ticket-{second['id']}.pdf"]
    body = text_part(receipt)
    assert "The first 2 of your 3 tickets are attached as PDF files; every ticket is at its link above." in body
    assert f"/tickets/{third['id']}" in body and third["code"] in body
