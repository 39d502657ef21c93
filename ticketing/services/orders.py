"""Checkout, cancellation and refunds.

Checkout is one transaction (invariant 3): the hold is locked and checked, the wallet is
debited by a conditional UPDATE, the order and one ticket per seat are written, and the
hold's seats flip from held to sold by a conditional UPDATE that only matches rows still held
by *this* hold. If a competing buyer took a seat after the hold lapsed, fewer rows match and
the whole checkout aborts: the debit is rolled back with it. The partial unique index on
valid tickets (match_id, seat_id) is the last line of defence for invariant 1.

Lock order everywhere: the fan's wallet, then the hold/order, then seat rows (by id), then
the seat-version shard. The same order in every path means no deadlock cycles.
"""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, text

from ticketing import metrics
from ticketing.models import Hold, Match, Order, Ticket, User
from ticketing.models.match import SEAT_VERSION_SHARDS
from ticketing.problems import Conflict, Gone, NotFound, field_error
from ticketing.services import keyset, notices
from ticketing.services import matches as match_service
from ticketing.services import wallet as wallet_service
from ticketing.services.prepared import Prepared
from ticketing.services.stadiums import escape_like


class HoldExpired(Gone):
    slug, title = "hold-expired", "The hold has expired"


# The fan's wallet, then the hold, locked in one round trip, with the hold's match status.
# Lock order (wallet first, as everywhere) is guaranteed by the plan's shape, not by luck:
# the hold is locked by the statement's top-level locking step, which only sees a joined
# row once the wallet subquery has produced, and so locked, the fan's wallet row. A hold
# changed while we waited is read in its newest version (the locking step re-reads it).
# No row: the wallet is missing (a fan who never had one) or the hold is; checkout then
# takes the long way (lock_wallet creates the wallet, _LOCK_HOLD looks again).
_LOCK_WALLET_AND_HOLD = Prepared(
    "checkout_lock_wallet_and_hold",
    """
    SELECT h.id, h.match_id, h.user_id, h.seat_ids, h.total, h.currency, h.status, h.expires_at,
           h.expires_at <= now() AS lapsed, m.status AS match_status
    FROM (SELECT user_id FROM wallets WHERE user_id = :u FOR UPDATE) AS w
    JOIN holds h ON h.id = :h
    JOIN matches m ON m.id = h.match_id
    FOR UPDATE OF h
    """,
    {"u": "bigint", "h": "bigint"},
)

# The hold, locked, with its match's status (after lock_wallet, on the long way).
_LOCK_HOLD = Prepared(
    "checkout_lock_hold",
    """
    SELECT h.id, h.match_id, h.user_id, h.seat_ids, h.total, h.currency, h.status, h.expires_at,
           h.expires_at <= now() AS lapsed, m.status AS match_status
    FROM holds h JOIN matches m ON m.id = h.match_id
    WHERE h.id = :h
    FOR UPDATE OF h
    """,
    {"h": "bigint"},
)

# Everything a checkout writes, in one statement (one round trip while the fan's wallet and
# hold are locked): the order, only while the match is on sale. The match row is read
# FOR KEY SHARE: every status change (close, cancel) holds the match FOR UPDATE through
# lock_match, which conflicts, so a change still uncommitted when this statement starts is
# waited for and the status re-checked in the row's newest version (READ COMMITTED's
# re-check of a locked row); a change committed earlier is in this statement's snapshot.
# KEY SHARE is the mode the foreign-key checks of the new rows take on this hot row anyway,
# so it adds no wait between checkouts (share locks never conflict with each other).
# the debit, conditional on the balance (no row when the wallet is short) with its ledger
# row; the hold's seats flipped from held to sold, only the rows still held by *this* hold,
# and one ticket per seat that flipped (in seat order); the hold spent; the seat-version
# bump; the fan's waiting-room place done, if they were called from one. Every write after the order joins it, so no order means no write at all. The caller
# checks the conditions (tickets for every seat of the hold, the debit made) and raises
# otherwise, which aborts the transaction and with it every write of this statement.
# Foreign keys to the new order are checked at the end of the statement, when it exists.
_PAY_AND_ISSUE = Prepared(
    "checkout_pay_and_issue",
    f"""
    WITH ordered AS (
        INSERT INTO orders (user_id, match_id, hold_id, status, total, currency)
        SELECT :u, :m, :h, 'paid', :t, :c FROM matches WHERE id = :m AND status = 'on_sale' FOR KEY SHARE
        RETURNING id, created_at
    ), debited AS (
        UPDATE wallets SET balance = wallets.balance - :t, updated_at = now()
        FROM ordered
        WHERE wallets.user_id = :u AND wallets.balance >= :t AND :t > 0
        RETURNING wallets.balance
    ), paid AS (
        INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, currency, order_id)
        SELECT :u, 'payment', :t, debited.balance, :c, ordered.id FROM debited, ordered
        RETURNING balance_after
    ), sold AS (
        UPDATE match_seats ms SET status = 'sold', order_id = ordered.id, hold_id = NULL, held_until = NULL
        FROM ordered
        WHERE ms.match_id = :m AND ms.seat_id = ANY(:ids) AND ms.hold_id = :h AND ms.status = 'held'
        RETURNING ms.match_id, ms.seat_id, ms.category_id, ms.price
    ), issued AS (
        INSERT INTO tickets (order_id, user_id, match_id, seat_id, category_id, price, status)
        SELECT ordered.id, :u, sold.match_id, sold.seat_id, sold.category_id, sold.price, 'valid'
        FROM sold, ordered ORDER BY sold.seat_id
        RETURNING id, order_id, match_id, seat_id, category_id, price, status, checked_in_at, code_version
    ), spent AS (
        UPDATE holds SET status = 'checked_out' FROM ordered WHERE holds.id = :h
    ), bumped AS (
        -- The match's tallies move with the bump (decision 0038): no extra row lock.
        UPDATE match_seat_versions
           SET version = version + 1, sold = sold + (SELECT count(*) FROM sold),
               paid_orders = paid_orders + 1, revenue = revenue + :t
          FROM ordered
        WHERE match_seat_versions.match_id = :m AND match_seat_versions.shard = :u % {SEAT_VERSION_SHARDS}
    ), shopped AS (
        -- A fan called from the match's waiting room has bought: their slot of an adaptive
        -- pace is free for the next fan (services/waiting_room.py). No place, no row.
        UPDATE queue_places SET done_at = now() FROM ordered
        WHERE queue_places.match_id = :m AND queue_places.user_id = :u
          AND queue_places.called_at IS NOT NULL AND queue_places.done_at IS NULL
    )
    SELECT issued.*, s.row_label AS row, s.number, sec.name AS section, s.section_id,
           (SELECT created_at FROM ordered) AS order_created_at,
           (SELECT balance_after FROM paid) AS balance_after
    FROM issued JOIN seats s ON s.id = issued.seat_id JOIN sections sec ON sec.id = s.section_id
    ORDER BY s.section_id, s.row_index, s.number
    """,
    {"u": "bigint", "m": "bigint", "h": "bigint", "t": "bigint", "c": "text", "ids": "bigint[]"},
)

_MATCH_STATUS = text("SELECT status FROM matches WHERE id = :m")

_LOCK_AND_COUNT_ADMITTED = text(
    "SELECT count(checked_in_at) AS admitted, count(*) FILTER (WHERE status = 'valid' AND user_id <> :u) AS given "
    "FROM (SELECT checked_in_at, status, user_id FROM tickets WHERE order_id = :o FOR UPDATE) AS t"
)


@dataclass(frozen=True)
class PaidOrder:
    """The order a checkout wrote, in the shape ``order_json`` reads."""

    id: int
    user_id: int
    match_id: int
    hold_id: int
    total: int
    currency: str
    created_at: datetime
    status: str = "paid"
    cancelled_at: datetime = None


def checkout(dbsession, user_id, hold_id, currency):
    """Pay for a live hold. Returns ``(order, tickets)``: the order and its ticket rows
    (with seat, row and section), in the shapes ``order_json`` takes."""
    hold = _LOCK_WALLET_AND_HOLD.execute(dbsession, {"u": user_id, "h": hold_id}).one_or_none()
    if hold is None:
        wallet_service.lock_wallet(dbsession, user_id, currency)
        hold = _LOCK_HOLD.execute(dbsession, {"h": hold_id}).one_or_none()
    if hold is None or hold.user_id != user_id:
        raise NotFound("No such hold.")
    if hold.status == "checked_out":
        raise Conflict("This hold has already been checked out.")
    if hold.status != "active":
        raise Gone(f"This hold is no longer active (it is {hold.status}).")
    if hold.lapsed:
        raise HoldExpired("The hold expired before checkout; hold the seats again.")
    if hold.match_status != "on_sale":
        raise Conflict(f"This match is not on sale (it is {hold.match_status}).")

    tickets = _PAY_AND_ISSUE.execute(
        dbsession,
        {"u": user_id, "m": hold.match_id, "h": hold.id, "t": hold.total, "c": hold.currency,
         "ids": list(hold.seat_ids)},
    ).mappings().all()
    if not tickets:
        status = dbsession.execute(_MATCH_STATUS, {"m": hold.match_id}).scalar_one()
        if status != "on_sale":  # sales closed (or the match cancelled) while we waited
            raise Conflict(f"This match is not on sale (it is {status}).")
    if len(tickets) != len(hold.seat_ids):
        raise HoldExpired("Some seats of this hold were taken after it lapsed; hold the seats again.")
    if hold.total > 0 and tickets[0]["balance_after"] is None:
        wallet_service.raise_short(dbsession, user_id, hold.total, hold.currency)
    order = PaidOrder(id=tickets[0]["order_id"], user_id=user_id, match_id=hold.match_id, hold_id=hold.id,
                      total=hold.total, currency=hold.currency, created_at=tickets[0]["order_created_at"])
    metrics.count_after_commit(dbsession, metrics.PURCHASES)
    metrics.count_after_commit(dbsession, metrics.SEATS_SOLD, len(tickets))
    return order, tickets


def cancel_order(dbsession, order, actor_id, actor_is_staff, reason=None, override_admitted=False):
    """Void the tickets, free the seats and refund the wallet, all at once.

    An order with a ticket already used at the gate: fans cannot cancel it; staff can, but
    only with ``override_admitted`` and a reason (someone watched the match on it), so a
    refund of a used ticket is never a slip of the mouse."""
    wallet_service.lock_wallet(dbsession, order.user_id, order.currency)
    row = dbsession.execute(
        text(
            "SELECT o.status, m.refund_cutoff_at > now() AS refundable, m.status AS match_status "
            "FROM orders o JOIN matches m ON m.id = o.match_id WHERE o.id = :o FOR UPDATE OF o"
        ),
        {"o": order.id},
    ).one()
    if row.status != "paid":
        raise Conflict("This order has already been cancelled.")
    if not actor_is_staff and not row.refundable:
        raise Conflict("The refund window for this match has closed.")
    # The order's tickets locked before they are counted: a gate scan committed meanwhile is
    # seen (a locked row is read in its newest version), and a scan that comes later waits
    # for this cancellation and then finds the ticket void. Without the lock a scan could
    # commit between this count and the void below: admitted and refunded.
    counts = dbsession.execute(_LOCK_AND_COUNT_ADMITTED, {"o": order.id, "u": order.user_id}).one()
    if counts.admitted and not actor_is_staff:
        raise Conflict("A ticket of this order has already been used at the gate.")
    # A ticket given to another fan is theirs now (services/tickets.py): the payer cannot take
    # it back by cancelling the order. The same lock orders this against a transfer.
    if counts.given and not actor_is_staff:
        raise Conflict("A ticket of this order was given to another fan; cancel the tickets you still hold "
                       "one by one.")
    reason = (reason or "").strip() or None
    if counts.admitted and not (override_admitted and reason):
        used = "1 ticket" if counts.admitted == 1 else f"{counts.admitted} tickets"
        errors = []
        if not override_admitted:
            errors.append(field_error("override_admitted", f"must be confirmed: {used} of this order "
                                      "already went through the gate"))
        if not reason:
            errors.append(field_error("reason", "is required to refund tickets already used at the gate"))
        raise Conflict(f"{used.capitalize()} of this order already went through the gate; refunding it "
                       "needs an explicit override with a reason.", errors=errors)
    voided = _void_and_refund(dbsession, order.id, order.match_id, order.user_id, order.currency,
                              actor_id, reason or ("cancelled by staff" if actor_is_staff else "cancelled by customer"))
    if voided is not None:
        freed, refund = voided
        metrics.count_after_commit(dbsession, metrics.REFUNDS, by="staff" if actor_is_staff else "customer")
        # What the tickets voided now cost moves from revenue to refunded (a ticket cancelled
        # on its own earlier moved then).
        match_service.bump_seat_version(dbsession, order.match_id, order.user_id, sold=-freed, paid_orders=-1,
                                        revenue=-refund, cancelled_orders=1, refunded=refund)
    else:
        match_service.bump_seat_version(dbsession, order.match_id, order.user_id)
    notices.order_cancelled(dbsession, order, by_staff=actor_is_staff)
    dbsession.expire(order)
    return order


def _void_and_refund(dbsession, order_id, match_id, user_id, currency, actor_id, reason):
    """Cancel a paid order once: void its valid tickets, free their seats and refund what
    they cost. Returns (seats freed, amount refunded), or None when the order was no longer
    paid. The status change is conditional, so no order is ever refunded twice."""
    cancelled = dbsession.execute(
        text(
            "UPDATE orders SET status = 'cancelled', cancelled_at = now(), cancelled_by = :a "
            "WHERE id = :o AND status = 'paid' RETURNING id"
        ),
        {"o": order_id, "a": actor_id},
    ).first()
    if cancelled is None:
        return None
    # The refund is what the tickets voided now cost: a ticket cancelled on its own earlier
    # (services/tickets.py) was refunded then, so the order's total would pay it twice.
    refund_due = dbsession.execute(
        text(
            "WITH voided AS (UPDATE tickets SET status = 'void' WHERE order_id = :o AND status = 'valid' "
            "RETURNING price) SELECT coalesce(sum(price), 0)::bigint FROM voided"
        ),
        {"o": order_id},
    ).scalar_one()
    freed = dbsession.execute(
        text(
            "UPDATE match_seats SET status = 'available', order_id = NULL "
            "WHERE match_id = :m AND order_id = :o AND status = 'sold'"
        ),
        {"m": match_id, "o": order_id},
    ).rowcount
    wallet_service.refund(dbsession, user_id, refund_due, currency, order_id, created_by=actor_id, reason=reason)
    return freed, refund_due


# The fans' wallets of the match's paid orders, locked in user-id order (the order every
# multi-wallet path uses) before any order is touched: a fan's own cancellation locks its
# wallet first too, so the two queue on the wallet instead of deadlocking.
_LOCK_MATCH_WALLETS = text(
    """
    SELECT w.user_id FROM wallets w
    WHERE w.user_id IN (SELECT user_id FROM orders WHERE match_id = :m AND status = 'paid')
    ORDER BY w.user_id FOR UPDATE OF w
    """
)

# Every paid order of the match cancelled, its tickets voided and its fan refunded, in one
# statement (decision 0039). The statement runs after the wallets are locked, in a snapshot
# taken then, so an order a fan cancelled meanwhile is no longer 'paid' and is skipped: no
# order is refunded twice. Each fan's wallet is credited once with what their orders' valid
# tickets cost; the ledger gets one refund row per order, whose balance_after runs up in order-id order to
# the wallet's new balance, so the ledger adds up exactly as if the orders had been refunded
# one by one. Orders of total 0 move no money and write no ledger row (as a single refund).
_CANCEL_MATCH_ORDERS = text(
    """
    WITH cancelled AS (
        UPDATE orders SET status = 'cancelled', cancelled_at = now(), cancelled_by = :a
        WHERE match_id = :m AND status = 'paid'
        RETURNING id, user_id, total, currency
    ), voided AS (
        -- By the match's valid tickets (a partial index), never by a scan of all tickets.
        UPDATE tickets t SET status = 'void'
        WHERE t.match_id = :m AND t.status = 'valid' AND t.order_id IN (SELECT id FROM cancelled)
        RETURNING t.order_id, t.price
    ), due AS (
        -- What each order's still valid tickets cost: a ticket cancelled on its own earlier
        -- (services/tickets.py) was refunded then.
        SELECT c.id, c.user_id, c.currency, coalesce(sum(v.price), 0) AS amount
        FROM cancelled c LEFT JOIN voided v ON v.order_id = c.id
        GROUP BY c.id, c.user_id, c.currency
    ), per_fan AS (
        SELECT user_id, sum(amount) AS amount FROM due WHERE amount > 0 GROUP BY user_id
    ), credited AS (
        UPDATE wallets w SET balance = w.balance + p.amount, updated_at = now()
        FROM per_fan p WHERE w.user_id = p.user_id
        RETURNING w.user_id, w.balance
    ), refunds AS (
        INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, currency, order_id, reason, created_by)
        SELECT d.user_id, 'refund', d.amount,
               cr.balance - (sum(d.amount) OVER (PARTITION BY d.user_id ORDER BY d.id DESC) - d.amount),
               d.currency, d.id, :reason, :a
        FROM due d JOIN credited cr ON cr.user_id = d.user_id
        WHERE d.amount > 0
        ORDER BY d.user_id, d.id
        RETURNING id
    )
    SELECT (SELECT count(*) FROM cancelled) AS orders,
           (SELECT coalesce(sum(amount), 0) FROM due)::bigint AS amount,
           (SELECT count(*) FROM voided) AS tickets,
           (SELECT count(*) FROM refunds) AS ledger_rows
    """
)

# Every seat not blocked yet is blocked, held and sold ones too. How many were sold is known
# without reading them again: every sold seat has exactly its valid ticket (invariant), and
# the statement above voided all of them (no checkout can sell meanwhile: the match is
# locked FOR UPDATE, which a checkout's KEY SHARE waits for).
_BLOCK_CANCELLED_SEATS = text(
    "UPDATE match_seats SET status = 'blocked', blocked_reason = 'cancelled', hold_id = NULL, "
    "held_until = NULL, order_id = NULL WHERE match_id = :m AND status <> 'blocked'"
)


def cancel_match(dbsession, match, actor_id):
    """Staff cancel a match: stop sales, release holds and refund every paid order."""
    match = match_service.lock_match(dbsession, match.id)
    if match.status == "cancelled":
        raise Conflict("This match is already cancelled.")
    if match.status == "draft":
        # A cancelled match is public (fans see why their match is off); a draft never was,
        # has sold nothing, and must not become visible this way.
        raise Conflict("A draft has nothing on sale to cancel; it stays private until it is published.")
    match.status = "cancelled"
    dbsession.flush()
    # Set-based (decision 0039): a few statements whatever the number of orders, all in this
    # one transaction, so the cancellation still commits whole or not at all.
    dbsession.execute(_LOCK_MATCH_WALLETS, {"m": match.id})
    refunded = dbsession.execute(
        _CANCEL_MATCH_ORDERS, {"m": match.id, "a": actor_id, "reason": "match cancelled"}
    ).one()
    if refunded.orders:
        metrics.count_after_commit(dbsession, metrics.REFUNDS, refunded.orders, by="match_cancelled")
    dbsession.execute(text("UPDATE holds SET status = 'cancelled' WHERE match_id = :m AND status = 'active'"), {"m": match.id})
    blocked = dbsession.execute(_BLOCK_CANCELLED_SEATS, {"m": match.id}).rowcount
    match.seat_version += 1
    match_service.bump_seat_version(dbsession, match.id, actor_id or 0, sold=-refunded.tickets, blocked=blocked,
                                    paid_orders=-refunded.orders, revenue=-refunded.amount,
                                    cancelled_orders=refunded.orders, refunded=refunded.amount)
    dbsession.flush()
    notices.match_cancelled(dbsession, match)  # every holder, in bulk (the sender expands it)
    return match, refunded.orders


def list_orders(dbsession, *, limit=20, offset=0, **filters):
    """A page of orders newest first, and how many there are (``orders_query``'s filters)."""
    query = orders_query(dbsession, **filters)
    total = dbsession.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = dbsession.execute(query.order_by(Order.id.desc()).limit(limit).offset(offset)).scalars().all()
    return rows, total


def orders_query(dbsession, *, user_id=None, match_id=None, status=None, email=None, contains=None,
                 order_id=None, placed_from=None, placed_before=None):
    """The orders the staff filters select: the API list, the admin search and its CSV export
    share it, so a filtered list exports exactly what it shows. ``email`` is a fan's whole
    address, ``contains`` a part of a fan's e-mail address or name; both are looked up first
    (see ``_user_by_email``)."""
    query = select(Order)
    if order_id is not None:
        query = query.where(Order.id == order_id)
    if user_id is not None:
        query = query.where(Order.user_id == user_id)
    if email:
        query = query.where(Order.user_id == _user_by_email(dbsession, email))
    if contains:
        query = query.where(Order.user_id.in_(_users_matching(dbsession, contains) or [-1]))
    if match_id is not None:
        query = query.where(Order.match_id == match_id)
    if status:
        query = query.where(Order.status == status)
    if placed_from is not None:
        query = query.where(Order.created_at >= placed_from)
    if placed_before is not None:
        query = query.where(Order.created_at < placed_before)
    return query


def _user_by_email(dbsession, email):
    """The fan's id, looked up first by lower(email), the expression the unique index is built
    on (comparing the bare column read every user). First, as a value: inside the orders query
    as a subquery, its value unknown when planning, PostgreSQL walked all orders newest first
    looking for this fan's few (78 ms at L, make bench-growth), instead of reading them from
    (user_id, id). No such fan: -1, which matches no order."""
    found = dbsession.execute(
        select(User.id).where(func.lower(User.email) == func.lower(email.strip()))).scalar_one_or_none()
    return -1 if found is None else found


#: At most this many fans' orders for a "contains" search: a part typed that matches more is
#: too vague to list anyway, and the list of ids stays one index probe each.
MAX_CONTAINS_FANS = 500


def _users_matching(dbsession, text_part):
    """Ids of users whose e-mail or name contains ``text_part`` (trigram indexes), as values
    (see _user_by_email)."""
    pattern = "%" + escape_like(text_part.strip()) + "%"
    return dbsession.execute(select(User.id).where(
        or_(User.email.ilike(pattern, escape="\\"), User.full_name.ilike(pattern, escape="\\"))
    ).limit(MAX_CONTAINS_FANS)).scalars().all()


#: The shortest "contains" search: a trigram index needs three characters to narrow anything.
MIN_CONTAINS = 3


def search_orders(dbsession, *, size, after=None, before=None, newest_first=True, **filters):
    """Staff search, one keyset page (services/keyset.py) of ``orders_query``'s filters."""
    return keyset.fetch(dbsession, orders_query(dbsession, **filters), Order.id, size=size, after=after,
                        before=before, descending=newest_first)


def tickets_of(dbsession, order_ids):
    if not order_ids:
        return {}
    rows = dbsession.execute(
        text(
            """
            SELECT t.id, t.order_id, t.user_id, t.match_id, t.seat_id, t.category_id, t.price, t.status,
                   t.checked_in_at, t.code_version, s.row_label AS row, s.number, sec.name AS section,
                   s.section_id
            FROM tickets t JOIN seats s ON s.id = t.seat_id JOIN sections sec ON sec.id = s.section_id
            WHERE t.order_id = ANY(:ids) ORDER BY t.order_id, s.section_id, s.row_index, s.number
            """
        ),
        {"ids": list(order_ids)},
    ).mappings().all()
    grouped = {order_id: [] for order_id in order_ids}
    for row in rows:
        grouped[row["order_id"]].append(dict(row))
    return grouped


def get_ticket(dbsession, ticket_id):
    return dbsession.get(Ticket, ticket_id)


def get_hold(dbsession, hold_id):
    return dbsession.get(Hold, hold_id)


def get_match(dbsession, match_id):
    return dbsession.get(Match, match_id)
