"""One ticket at a time: cancelling it for a partial refund, and giving it to another fan.

Guarantees (decision 0058):
- Cancelling one ticket voids it, frees its seat and refunds its price to the payer's wallet,
  once. It takes the same locks, in the same order, as cancelling the whole order (the
  payer's wallet, the order, then the ticket), so the two cannot both refund the ticket; the
  last valid ticket cancelled cancels the order.
- A transfer keeps the ticket row (the seat's one valid ticket stays one) and moves it to the
  recipient with a new ``code_version``: the old code stops verifying at the gate at once.
  The change is one conditional ``UPDATE ... WHERE status = 'valid' AND checked_in_at IS NULL
  AND code_version = <read>``: a gate scan (itself a conditional update of the same row) or a
  cancellation that got there first makes it match nothing, and one that comes later waits
  for it and then finds the old code dead or the ticket moved.
- The recipient's per-fan limit counts as a hold's does, under the recipient's wallet lock
  (which every hold of theirs takes first): valid tickets plus the seats of a live hold.

Lock order: wallets (by user id), then the order, then the ticket: the order every other
money path uses (services/orders.py), so there is no deadlock cycle.

Each operation queues its own notices (services/notices.py) in the caller's transaction, so
they go out only if the change commits, whichever view (API or admin) called it.
"""
from dataclasses import dataclass

from sqlalchemy import text

from ticketing.problems import Conflict, NotFound, ValidationFailed, field_error
from ticketing.services import audit, notices
from ticketing.services import matches as match_service
from ticketing.services import wallet as wallet_service

#: code_version is a SMALLINT: a ticket passed back and forth this often is refused a transfer.
MAX_CODE_VERSION = 32_000

_PAYER = text(
    "SELECT t.order_id, o.user_id AS payer_id, o.currency FROM tickets t JOIN orders o ON o.id = t.order_id "
    "WHERE t.id = :t"
)

_LOCK_ORDER = text(
    "SELECT o.status, o.total, m.refund_cutoff_at > now() AS refundable FROM orders o "
    "JOIN matches m ON m.id = o.match_id "
    "WHERE o.id = :o FOR UPDATE OF o"
)

_LOCK_TICKET = text(
    "SELECT id, order_id, user_id, match_id, seat_id, price, status, checked_in_at, code_version "
    "FROM tickets WHERE id = :t FOR UPDATE"
)

_VOID = text("UPDATE tickets SET status = 'void' WHERE id = :t AND status = 'valid' RETURNING price")

_FREE_SEAT = text(
    "UPDATE match_seats SET status = 'available', order_id = NULL "
    "WHERE match_id = :m AND seat_id = :s AND order_id = :o AND status = 'sold'"
)

_CANCEL_EMPTY_ORDER = text(
    "UPDATE orders SET status = 'cancelled', cancelled_at = now(), cancelled_by = :a "
    "WHERE id = :o AND status = 'paid' AND NOT EXISTS "
    "(SELECT 1 FROM tickets WHERE order_id = :o AND status = 'valid') RETURNING id"
)


@dataclass(frozen=True)
class CancelledTicket:
    ticket_id: int
    order_id: int
    payer_id: int
    refunded: int
    currency: str
    order_cancelled: bool


def cancel_ticket(dbsession, ticket_id, actor_id, actor_is_staff, reason=None):
    """Void one ticket, free its seat and refund its price to whoever paid for the order.

    Fans: only a ticket they hold of an order they paid for, before the match's refund
    cutoff, and not used at the gate. Staff: any valid ticket, at any time."""
    found = dbsession.execute(_PAYER, {"t": ticket_id}).one_or_none()
    if found is None:
        raise NotFound("No such ticket.")
    wallet_service.lock_wallet(dbsession, found.payer_id, found.currency)
    order = dbsession.execute(_LOCK_ORDER, {"o": found.order_id}).one()
    if order.status != "paid":
        raise Conflict("This ticket's order has already been cancelled.")
    ticket = dbsession.execute(_LOCK_TICKET, {"t": ticket_id}).one()
    if ticket.status != "valid":
        raise Conflict("This ticket has already been cancelled.")
    if not actor_is_staff:
        if ticket.user_id != found.payer_id:
            # A ticket given away is refunded to its payer, so only staff may cancel it.
            raise Conflict("This ticket was given to you by another fan; staff can cancel it.")
        if not order.refundable:
            raise Conflict("The refund window for this match has closed.")
        if ticket.checked_in_at is not None:
            raise Conflict("This ticket has already been used at the gate.")
    price = dbsession.execute(_VOID, {"t": ticket_id}).scalar_one()
    freed = dbsession.execute(_FREE_SEAT, {"m": ticket.match_id, "s": ticket.seat_id, "o": ticket.order_id}).rowcount
    wallet_service.refund(dbsession, found.payer_id, price, found.currency, ticket.order_id, created_by=actor_id,
                          reason=reason or ("ticket cancelled by staff" if actor_is_staff
                                            else "ticket cancelled by customer"))
    emptied = dbsession.execute(_CANCEL_EMPTY_ORDER, {"o": ticket.order_id, "a": actor_id}).first()
    # The match's tallies (decision 0038): a seat less sold, and its price moves from revenue
    # to refunded now (revenue is what the valid tickets cost); an order emptied counts as a
    # cancelled order too.
    tallies = {"sold": -freed, "revenue": -price, "refunded": price}
    if emptied is not None:
        tallies.update(paid_orders=-1, cancelled_orders=1)
    match_service.bump_seat_version(dbsession, ticket.match_id, found.payer_id, **tallies)
    cancelled = CancelledTicket(ticket_id, ticket.order_id, found.payer_id, price, found.currency, emptied is not None)
    # The payer (and a different holder) hear of it with the change itself, whoever calls this.
    notices.ticket_cancelled(dbsession, cancelled, by_staff=actor_is_staff)
    return cancelled


# --- transfers ------------------------------------------------------------------------------

_RECIPIENT = text("SELECT id, full_name, is_active FROM users WHERE email = :e")

_LOCK_TICKET_AND_MATCH = text(
    """
    SELECT t.id, t.user_id, t.match_id, t.status, t.checked_in_at, t.code_version,
           m.status AS match_status, m.starts_at > now() AS before_start, m.max_tickets_per_fan
    FROM tickets t JOIN matches m ON m.id = t.match_id
    WHERE t.id = :t
    FOR UPDATE OF t
    """
)

# What the recipient already has for the match, as a hold counts it (services/holds.py).
_OWNED = text(
    """
    SELECT (SELECT count(*) FROM tickets WHERE user_id = :u AND match_id = :m AND status = 'valid')
         + (SELECT coalesce(sum(cardinality(seat_ids)), 0) FROM holds
            WHERE user_id = :u AND match_id = :m AND status = 'active' AND expires_at > now())
    """
)

# The transfer itself: conditional on everything checked above still being true.
_MOVE = text(
    """
    UPDATE tickets SET user_id = :to, code_version = code_version + 1
    WHERE id = :t AND user_id = :from AND status = 'valid' AND checked_in_at IS NULL AND code_version = :v
    RETURNING code_version
    """
)

_RECORD = text(
    "INSERT INTO ticket_transfers (ticket_id, match_id, from_user_id, to_user_id, from_version) "
    "VALUES (:t, :m, :from, :to, :v) RETURNING id, created_at"
)


@dataclass(frozen=True)
class Transfer:
    id: int
    ticket_id: int
    match_id: int
    from_user_id: int
    to_user_id: int
    to_name: str
    transferred_at: object


def transfer_field_errors(email):
    email = email.strip() if isinstance(email, str) else ""
    if not email or "@" not in email or len(email) > 254:
        return [field_error("email", "must be the e-mail address of a registered fan")]
    return []


def transfer_ticket(dbsession, ticket_id, sender_id, recipient_email, currency):
    """Give a ticket the sender holds to another registered fan, before the match.

    Queues the notice to each fan in the same transaction. Returns the :class:`Transfer`."""
    errors = transfer_field_errors(recipient_email)
    if errors:
        raise ValidationFailed("The recipient is not valid.", errors=errors)
    recipient = dbsession.execute(_RECIPIENT, {"e": recipient_email.strip().lower()}).one_or_none()
    if recipient is None or not recipient.is_active:
        raise ValidationFailed("There is no registered fan with that address.",
                               errors=[field_error("email", "no registered fan has this address")])
    if recipient.id == sender_id:
        raise ValidationFailed("The ticket is already yours.",
                               errors=[field_error("email", "must be someone else's address")])
    # Both fans' wallets in user-id order: the recipient's serialises this against their own
    # holds (the per-fan limit), the sender's against their cancellations.
    for user_id in sorted((sender_id, recipient.id)):
        wallet_service.lock_wallet(dbsession, user_id, currency)
    ticket = dbsession.execute(_LOCK_TICKET_AND_MATCH, {"t": ticket_id}).one_or_none()
    if ticket is None or ticket.user_id != sender_id:
        raise NotFound("No such ticket.")
    if ticket.status != "valid":
        raise Conflict("This ticket was cancelled; it cannot be given away.")
    if ticket.checked_in_at is not None:
        raise Conflict("This ticket has already been used at the gate.")
    if ticket.match_status not in ("on_sale", "closed") or not ticket.before_start:
        raise Conflict("Tickets can only be given away before the match starts.")
    if ticket.code_version >= MAX_CODE_VERSION:
        raise Conflict("This ticket has been given away too many times.")
    owned = dbsession.execute(_OWNED, {"u": recipient.id, "m": ticket.match_id}).scalar_one()
    if owned + 1 > ticket.max_tickets_per_fan:
        raise Conflict(
            f"The recipient already has {owned} tickets for this match, the most one fan may have.",
            errors=[field_error("email", f"this fan has reached the limit of {ticket.max_tickets_per_fan} tickets")],
        )
    moved = dbsession.execute(
        _MOVE, {"t": ticket_id, "from": sender_id, "to": recipient.id, "v": ticket.code_version}
    ).first()
    if moved is None:  # only if a row lock was not what it seemed; never half-done
        raise Conflict("This ticket changed while it was being given away; try again.")
    record = dbsession.execute(
        _RECORD, {"t": ticket_id, "m": ticket.match_id, "from": sender_id, "to": recipient.id,
                  "v": ticket.code_version},
    ).one()
    audit.record(dbsession, sender_id, "ticket.transfer", "ticket", ticket_id, match_id=ticket.match_id,
                 from_user_id=sender_id, to_user_id=recipient.id)
    transfer = Transfer(record.id, ticket_id, ticket.match_id, sender_id, recipient.id, recipient.full_name,
                        record.created_at)
    # Both fans hear of it with the change itself, whoever calls this (decision 0058).
    notices.ticket_transferred(dbsession, transfer)
    return transfer


# --- the holder's tickets and what a printed ticket shows ----------------------------------

_HELD = text(
    """
    SELECT t.id, t.order_id, t.match_id, t.seat_id, t.category_id, t.price, t.status, t.checked_in_at,
           t.code_version, s.row_label AS row, s.number, sec.name AS section, s.section_id
    FROM tickets t JOIN seats s ON s.id = t.seat_id JOIN sections sec ON sec.id = s.section_id
    WHERE t.user_id = :u AND (CAST(:m AS bigint) IS NULL OR t.match_id = :m)
    ORDER BY t.id DESC LIMIT :limit OFFSET :offset
    """
)


def held_tickets(dbsession, user_id, match_id=None, limit=20, offset=0):
    """The tickets a fan holds (bought, or given to them), newest first: (rows, total)."""
    total = dbsession.execute(
        text("SELECT count(*) FROM tickets WHERE user_id = :u AND (CAST(:m AS bigint) IS NULL OR match_id = :m)"),
        {"u": user_id, "m": match_id},
    ).scalar_one()
    rows = dbsession.execute(_HELD, {"u": user_id, "m": match_id, "limit": limit, "offset": offset}).mappings().all()
    return [dict(row) for row in rows], total


_PRINTABLE = text(
    """
    SELECT t.id, t.order_id, t.match_id, t.seat_id, t.category_id, t.price, t.status, t.checked_in_at,
           t.code_version, s.row_label AS row, s.number, sec.name AS section, s.section_id,
           u.full_name AS holder, m.home_team, m.away_team, m.starts_at, st.name AS stadium, st.city,
           c.name AS category, o.currency
    FROM tickets t
    JOIN seats s ON s.id = t.seat_id JOIN sections sec ON sec.id = s.section_id
    JOIN users u ON u.id = t.user_id
    JOIN matches m ON m.id = t.match_id JOIN stadiums st ON st.id = m.stadium_id
    JOIN orders o ON o.id = t.order_id
    LEFT JOIN price_categories c ON c.id = t.category_id
    WHERE t.id = :t
    """
)


def printable(dbsession, ticket_id):
    """Everything a printed ticket shows, in one row (a mapping)."""
    return dbsession.execute(_PRINTABLE, {"t": ticket_id}).mappings().one()
