"""What the box office tells a fan by mail when their purchase, their match or their money
changes.

Each notice is queued in the caller's transaction (services/mail.py), once per event (its
dedupe key): the receipt of a paid order with its tickets' codes and links (and the tickets
as PDF files, rendered by the sender), the notice of a cancelled (refunded) order or ticket, both sides
of a ticket given to another fan, the receipt of a withdrawal, and, to every ticket holder of
a match, the notice that the match was cancelled or moved (a bulk ``MailCampaign`` the sender
expands in batches).

What leaves an account (a ticket given away, money paid out) is mailed to its owner as well
as done: if someone else did it with their password, the owner hears of it at once.
"""
import logging

from pyramid_mailer.message import Attachment
from sqlalchemy import text

from ticketing.money import format_money
from ticketing.services import mail, ticket_pdf

log = logging.getLogger(__name__)


#: The locale amounts are written in, by the language of the mail (decision 0063): 70,00 € in
#: Slovenian, €70.00 in English.
MAIL_LOCALES = {"sl": "sl_SI", "en": "en_IE"}


def money(amount, currency, language):
    return format_money(amount, currency, MAIL_LOCALES.get(language, MAIL_LOCALES["en"]))


_ORDER_CONTEXT = text("""
    SELECT u.email, u.locale, u.full_name, u.deleted_at IS NOT NULL AS deleted,
           m.home_team || ' vs ' || m.away_team AS match, m.starts_at
    FROM users u, matches m WHERE u.id = :u AND m.id = :m
""")


def order_receipt(dbsession, order):
    """Queue the receipt of a paid order: one statement on the checkout's hot path; the
    sender composes it (``compose_receipt``) when it sends it."""
    mail.enqueue_for_sender(dbsession, "order_receipt", order.user_id, {"order_id": order.id},
                            dedupe_key=f"receipt:{order.id}")


#: At most this many tickets of one receipt are attached as PDF files; the others are only
#: linked (every ticket is, attached or not). A ticket costs ~100 ms to render (decision 0065)
#: while the sender holds the locks of its batch of rows, and an order may have up to 50
#: tickets: ten keeps one receipt near a second of rendering and ~0.6 MB of base64 (a
#: ticket is ~45 kB, fonts included), well under the size limits of common mail servers,
#: and covers the default per-fan limit (6) whole.
MAX_ATTACHED_TICKETS = 10


def compose_receipt(session, row, signer):
    """The receipt's subject and bodies, and its attachments: the order and every ticket with
    its signed code and link, as they are when it is sent, and the PDF of each ticket the
    buyer may still use (at most ``MAX_ATTACHED_TICKETS``).

    Read at send time, not at checkout (the hot path renders nothing, decision 0055), and
    again at every attempt: a ticket cancelled or given to another fan before the mail
    leaves is shown as such and not attached (its code is void, or the recipient's now), and
    a retry with nothing changed gives the same bodies and byte-identical PDFs (ReportLab's
    ``invariant`` flag), under the Message-ID chosen at checkout. The tickets are read, not
    locked: one cancelled while its message is on the wire is still attached, and its code
    no longer admits anyone at the gate."""
    from ticketing.services import orders  # orders queues notices: imported when used
    from ticketing.services import tickets as ticket_service  # it imports matches, which imports us

    order_id = row.params["order_id"]
    order = session.execute(text("SELECT id, user_id, match_id, total, currency FROM orders WHERE id = :o"),
                            {"o": order_id}).one()
    who = session.execute(_ORDER_CONTEXT, {"u": order.user_id, "m": order.match_id}).one()
    lines, usable = [], []
    for t in orders.tickets_of(session, [order_id])[order_id]:
        if t["status"] != "valid":
            code = "void"
        elif t["user_id"] != order.user_id:
            code = "transferred"  # the code is the recipient's now (decision 0058): not the buyer's to see
        else:
            code = signer.sign(t["id"], t["match_id"], t["seat_id"], t["code_version"])
            usable.append((t["id"], code))
        lines.append({"id": t["id"], "section": t["section"], "row": t["row"], "seat": t["number"], "code": code})
    attachments = []
    for ticket_id, code in usable[:MAX_ATTACHED_TICKETS]:
        printable = ticket_service.printable(session, ticket_id)  # a database error fails the message
        try:
            pdf = ticket_pdf.render(printable, code)
        except Exception:  # noqa: BLE001 - a PDF that cannot be drawn must not hold back the codes
            log.exception("ticket %s: PDF not rendered; receipt %s sent with its code and link only",
                          ticket_id, row.message_id)
            continue
        attachments.append(Attachment(filename=f"ticket-{ticket_id}.pdf", content_type="application/pdf",
                                      data=pdf))
    rendered = mail.render("order_receipt", who.locale, {
        "full_name": who.full_name, "order_id": order.id, "match": who.match,
        "starts_at": who.starts_at.isoformat(), "total": money(order.total, order.currency, who.locale),
        "tickets": lines, "attached": len(attachments), "usable": len(usable)})
    row.subject, row.body_text, row.body_html = rendered.subject, rendered.text, rendered.html
    return attachments


def order_cancelled(dbsession, order, by_staff):
    """The refund notice of a cancelled order."""
    who = dbsession.execute(_ORDER_CONTEXT, {"u": order.user_id, "m": order.match_id}).one()
    if who.deleted:
        return
    mail.enqueue(dbsession, "order_cancelled", who.email, who.locale,
                 {"full_name": who.full_name, "order_id": order.id, "match": who.match,
                  "starts_at": who.starts_at.isoformat(), "total": money(order.total, order.currency, who.locale),
                  "by_staff": by_staff},
                 user_id=order.user_id, dedupe_key=f"order-cancelled:{order.id}")


_TRANSFER_CONTEXT = text("""
    SELECT f.email AS from_email, f.locale AS from_locale, f.full_name AS from_name,
           f.deleted_at IS NOT NULL AS from_deleted,
           r.email AS to_email, r.locale AS to_locale, r.full_name AS to_name,
           r.deleted_at IS NOT NULL AS to_deleted,
           m.home_team || ' vs ' || m.away_team AS match, m.starts_at,
           sec.name AS section, s.row_label AS row, s.number AS seat
    FROM ticket_transfers tt
    JOIN users f ON f.id = tt.from_user_id JOIN users r ON r.id = tt.to_user_id
    JOIN matches m ON m.id = tt.match_id JOIN tickets t ON t.id = tt.ticket_id
    JOIN seats s ON s.id = t.seat_id JOIN sections sec ON sec.id = s.section_id
    WHERE tt.id = :id
""")


def ticket_transferred(dbsession, transfer):
    """Both fans of a transfer (services/tickets.py ``Transfer``): the recipient learns who
    gave them which seat and where to find it, the sender that it has left their account.
    Keyed by the transfer's row, so each side is mailed once per transfer."""
    who = dbsession.execute(_TRANSFER_CONTEXT, {"id": transfer.id}).one()
    ticket = {"match": who.match, "starts_at": who.starts_at.isoformat(), "section": who.section,
              "row": who.row, "seat": who.seat}
    if not who.to_deleted:
        mail.enqueue(dbsession, "ticket_received", who.to_email, who.to_locale,
                     {**ticket, "full_name": who.to_name, "from_name": who.from_name},
                     user_id=transfer.to_user_id, dedupe_key=f"transfer:{transfer.id}:received")
    if not who.from_deleted:
        mail.enqueue(dbsession, "ticket_given", who.from_email, who.from_locale,
                     {**ticket, "full_name": who.from_name, "to_name": who.to_name, "to_email": who.to_email},
                     user_id=transfer.from_user_id, dedupe_key=f"transfer:{transfer.id}:given")


_CANCELLED_TICKET_CONTEXT = text("""
    SELECT u.id AS user_id, u.email, u.locale, u.full_name,
           m.home_team || ' vs ' || m.away_team AS match, m.starts_at,
           sec.name AS section, s.row_label AS row, s.number AS seat
    FROM tickets t JOIN users u ON u.id IN (t.user_id, :payer) AND u.deleted_at IS NULL
    JOIN matches m ON m.id = t.match_id
    JOIN seats s ON s.id = t.seat_id JOIN sections sec ON sec.id = s.section_id
    WHERE t.id = :t
""")


def ticket_cancelled(dbsession, cancelled, by_staff):
    """One ticket cancelled on its own (services/tickets.py ``CancelledTicket``): the fan who
    paid learns what went back to their wallet, and the fan who held it, if another (a ticket
    given away, cancelled by staff), that it no longer admits them. Keyed by the ticket, which
    is cancelled at most once."""
    for who in dbsession.execute(_CANCELLED_TICKET_CONTEXT, {"t": cancelled.ticket_id, "payer": cancelled.payer_id}):
        payer = who.user_id == cancelled.payer_id
        mail.enqueue(dbsession, "ticket_cancelled", who.email, who.locale,
                     {"full_name": who.full_name, "match": who.match, "starts_at": who.starts_at.isoformat(),
                      "section": who.section, "row": who.row, "seat": who.seat, "by_staff": by_staff,
                      "refunded": money(cancelled.refunded, cancelled.currency, who.locale) if payer else None},
                     user_id=who.user_id, dedupe_key=f"ticket-cancelled:{cancelled.ticket_id}:{who.user_id}")


_ACCOUNT = text("SELECT email, locale, full_name, deleted_at IS NOT NULL AS deleted FROM users WHERE id = :u")


def withdrawal_paid(dbsession, entry):
    """The receipt of a withdrawal (its ledger row): the amount, the payout's reference and
    the balance left. Keyed by the ledger row: one mail per payout."""
    who = dbsession.execute(_ACCOUNT, {"u": entry.user_id}).one()
    if who.deleted:
        return
    mail.enqueue(dbsession, "withdrawal_paid", who.email, who.locale,
                 {"full_name": who.full_name, "amount": money(entry.amount, entry.currency, who.locale),
                  "reference": entry.payout_reference,
                  "balance": money(entry.balance_after, entry.currency, who.locale)},
                 user_id=entry.user_id, dedupe_key=f"withdrawal:{entry.id}")


def _match_params(match):
    return {"match": f"{match.home_team} vs {match.away_team}", "starts_at": match.starts_at.isoformat(),
            "refund_cutoff_at": match.refund_cutoff_at.isoformat() if match.refund_cutoff_at else None}


def match_cancelled(dbsession, match):
    """Every ticket holder of the match, in bulk (the orders were refunded with it)."""
    return mail.start_campaign(dbsession, match.id, "match_cancelled", _match_params(match))


def match_rescheduled(dbsession, match, old_starts_at):
    """Every ticket holder of the match, in bulk: the new date."""
    return mail.start_campaign(dbsession, match.id, "match_rescheduled",
                               {**_match_params(match), "old_starts_at": old_starts_at.isoformat()})
