"""What the box office tells a fan by mail when their purchase or their match changes.

Each notice is queued in the caller's transaction (services/mail.py), once per event (its
dedupe key): the receipt of a paid order with its tickets' codes and links (and the tickets
as PDF files, rendered by the sender), the notice of a cancelled (refunded) order, and, to
every ticket holder of a match, the notice that the match was cancelled or moved (a bulk
``MailCampaign`` the sender expands in batches).
"""
from pyramid_mailer.message import Attachment
from sqlalchemy import text

from ticketing.services import mail, ticket_pdf


def money(amount, currency):
    return f"{amount / 100:.2f} {currency}"


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
    attached = usable[:MAX_ATTACHED_TICKETS]
    rendered = mail.render("order_receipt", who.locale, {
        "full_name": who.full_name, "order_id": order.id, "match": who.match,
        "starts_at": who.starts_at.isoformat(), "total": money(order.total, order.currency), "tickets": lines,
        "attached": len(attached), "usable": len(usable)})
    row.subject, row.body_text, row.body_html = rendered.subject, rendered.text, rendered.html
    return [Attachment(filename=f"ticket-{ticket_id}.pdf", content_type="application/pdf",
                       data=ticket_pdf.render(ticket_service.printable(session, ticket_id), code))
            for ticket_id, code in attached]


def order_cancelled(dbsession, order, by_staff):
    """The refund notice of a cancelled order."""
    who = dbsession.execute(_ORDER_CONTEXT, {"u": order.user_id, "m": order.match_id}).one()
    if who.deleted:
        return
    mail.enqueue(dbsession, "order_cancelled", who.email, who.locale,
                 {"full_name": who.full_name, "order_id": order.id, "match": who.match,
                  "starts_at": who.starts_at.isoformat(), "total": money(order.total, order.currency),
                  "by_staff": by_staff},
                 user_id=order.user_id, dedupe_key=f"order-cancelled:{order.id}")


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
