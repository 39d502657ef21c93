"""Holding seats: the claim that a rush of fans fights over.

Guarantees (PRODUCT.md invariants 2 and 5):
- A seat is in at most one live hold. Every claim is one conditional statement over
  ``match_seats`` that only takes rows it may: a claim of chosen seats or of a planned block
  takes rows ``available`` or ``held`` with an expired ``held_until`` (compared with the
  database clock in the same statement); the first-free claim takes ``available`` rows. An
  expired hold frees its seats at once, with no sweeper.
- Best available reads only available seats (decision 0026): held seats pile up in front of
  the free ones during a rush, and a scan that walked past each of them cost ~1 ms at 4,000
  held. So when the on-sale check sees lapsed holds on the match, the hold first makes up to
  RELEASE_AT_ONCE of their seats available (the best first, bumping the seat version),
  committed at once on the autocommit engine (a lapsed seat is available in every sense
  already), then scans.
- All-or-nothing: if any requested seat cannot be claimed the transaction is aborted (409
  naming the taken seats) and nothing changes.
- No deadlocks between multi-seat buyers: rows are locked in seat-id order.
- Buyers never queue behind each other for best-available seats: candidates are locked with
  ``FOR UPDATE SKIP LOCKED``, so a seat another buyer is taking is simply skipped.
- Per-fan limit: the fan's wallet row is locked first (serialising one fan's requests, not the
  match), then live hold + valid tickets are counted against the match's limit.
- One live hold per fan and match: a new hold replaces the previous one in the same
  transaction (docs/decisions/0005-one-live-hold-per-match.md).

Round trips are the price of a hold under load: each one releases the GIL and holds the
fan's row locks while the thread waits to get it back. So adjacent blocks are planned in
SQL (only the blocks come back, not hundreds of seat rows) and the hold row is written once,
after the claim, together with the seat-version bump (docs/decisions/0011).
"""
import random
from dataclasses import dataclass

from sqlalchemy import text

from ticketing import metrics
from ticketing.models import Match
from ticketing.models.match import SEAT_VERSION_SHARDS
from ticketing.problems import Conflict, Gone, NotFound, ValidationFailed, field_error
from ticketing.services import matches as match_service
from ticketing.services import wallet as wallet_service
from ticketing.services.prepared import Prepared

MAX_SEATS_PER_HOLD = 50
CANDIDATE_SCAN = 600  # available seats read (without locks) to find adjacent blocks
WINDOW_ATTEMPTS = 8  # adjacent blocks tried under SKIP LOCKED before giving up
WINDOW_JITTER = 8  # start among the first few best blocks so a rush does not all collide
RELEASE_AT_ONCE = 100  # lapsed seats one hold makes available (the best first): ~1.5 ms of locks

CLAIMABLE = "(ms.status = 'available' OR (ms.status = 'held' AND ms.held_until <= now()))"


class SeatsTaken(Conflict):
    slug, title = "seats-taken", "Some seats are no longer available"


@dataclass
class Claim:
    seat_ids: list
    total: int


# Chosen seats: lock exactly these rows in id order, skipping none (a taken seat fails the
# whole request), then flip them to held in the same statement.
_CLAIM_CHOSEN = text(
    f"""
    WITH wanted AS (
        SELECT ms.seat_id FROM match_seats ms
        WHERE ms.match_id = :match_id AND ms.seat_id = ANY(:seat_ids) AND {CLAIMABLE}
        ORDER BY ms.seat_id
        FOR UPDATE
    )
    UPDATE match_seats ms
       SET status = 'held', hold_id = :hold_id, held_until = now() + make_interval(secs => :hold_seconds)
      FROM wanted
     WHERE ms.match_id = :match_id AND ms.seat_id = wanted.seat_id
    RETURNING ms.seat_id, ms.price
    """
)

# Best available, one block, and the hold in the same statement (decision 0029): lock the
# block's rows that nobody else is locking and that are still claimable, flip them to held,
# and only if that got the whole block, write the hold row and bump the seat version (last,
# so the shard's row lock is held only until commit; see matches.bump_seat_version). A short
# block writes no hold and returns no row; the caller rolls back to the savepoint sent in the
# same round trip, which releases the partial block's row locks. The seats come back as the
# response shows them (seats_of), built from what the claim returned.
_CLAIM_BLOCK_AND_HOLD_SQL = f"""
    WITH free AS (
        SELECT ms.seat_id FROM match_seats ms
        WHERE ms.match_id = :match_id AND ms.seat_id = ANY(:seat_ids) AND {CLAIMABLE}
        ORDER BY ms.seat_id
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE match_seats ms
           SET status = 'held', hold_id = :hold_id, held_until = now() + make_interval(secs => :hold_seconds)
          FROM free
         WHERE ms.match_id = :match_id AND ms.seat_id = free.seat_id
        RETURNING ms.seat_id, ms.category_id, ms.price
    ), whole AS (
        SELECT array_agg(seat_id ORDER BY seat_id) AS seat_ids, sum(price) AS total FROM claimed
        HAVING count(*) = cardinality(:seat_ids)
    ), hold AS (
        INSERT INTO holds (id, match_id, user_id, seat_ids, total, currency, status, expires_at)
        SELECT :hold_id, :match_id, :u, whole.seat_ids, whole.total, :c, 'active',
               now() + make_interval(secs => :hold_seconds)
          FROM whole
        RETURNING id, match_id, user_id, seat_ids, total, currency, status, expires_at, created_at
    ), bump AS (
        UPDATE match_seat_versions SET version = version + 1
        WHERE match_id = :match_id AND shard = :u % {SEAT_VERSION_SHARDS} AND EXISTS (SELECT 1 FROM hold)
    )
    SELECT hold.*,
           (SELECT json_agg(json_build_object('id', s.id, 'section_id', s.section_id, 'section', sec.name,
                                              'row', s.row_label, 'number', s.number,
                                              'category_id', claimed.category_id, 'price', claimed.price)
                            ORDER BY s.section_id, s.row_index, s.number)
            FROM claimed JOIN seats s ON s.id = claimed.seat_id JOIN sections sec ON sec.id = s.section_id) AS seats
    FROM hold
    """

_CLAIM_BLOCK_AND_HOLD = Prepared(
    "hold_claim_block_and_insert", _CLAIM_BLOCK_AND_HOLD_SQL,
    {"match_id": "bigint", "seat_ids": "bigint[]", "hold_id": "bigint", "hold_seconds": "integer",
     "u": "bigint", "c": "text"},
    prefix="SAVEPOINT claim_block;\n",
)

# Best available, anywhere: the first N available seats in layout order that no one else is
# locking (lapsed holds' seats were made available first, see _RELEASE_LAPSED). Every locked
# row is used, so no buyer is ever turned away by another's leftovers. The status is checked
# again on the row's newest version once it is locked.
_CLAIM_FIRST_FREE = text(
    """
    WITH free AS (
        SELECT ms.seat_id FROM match_seats ms
        WHERE ms.match_id = :match_id AND ms.status = 'available'
          AND (CAST(:category_id AS bigint) IS NULL OR ms.category_id = :category_id)
        ORDER BY ms.section_id, ms.row_index, ms.number
        LIMIT :quantity
        FOR UPDATE SKIP LOCKED
    )
    UPDATE match_seats ms
       SET status = 'held', hold_id = :hold_id, held_until = now() + make_interval(secs => :hold_seconds)
      FROM free
     WHERE ms.match_id = :match_id AND ms.seat_id = free.seat_id
    RETURNING ms.seat_id, ms.price
    """
)

# Adjacent blocks, planned without locks: the first :scan available seats in layout order,
# and every run of :quantity of them with consecutive numbers in one row, best (layout order)
# first. Numbers are distinct and ascending along a row, so the seat :quantity - 1 places
# further on carries number + :quantity - 1 exactly when every seat between is available too.
# One window, in the index's own order (PARTITION BY section and row, ORDER BY number): no
# sort anywhere, and the LIMIT stops the scan once it has its blocks (decision 0033; cutting
# the scan into runs first took two windows and two sorts, ~0.4 ms of the database a hold).
# Two variants, so each prepared statement has one plan that fits every call: anywhere in the
# stadium (ix_match_seats_available_layout) or in one category (ix_match_seats_available);
# both walk their index in layout order and stop after :scan rows, none of them held.
def _adjacent_blocks_sql(category_filter):
    return f"""
        WITH candidates AS (
            SELECT ms.seat_id, ms.section_id, ms.row_index, ms.number FROM match_seats ms
            WHERE ms.match_id = :match_id AND ms.status = 'available' {category_filter}
            ORDER BY ms.section_id, ms.row_index, ms.number
            LIMIT :scan
        ), windows AS (
            SELECT section_id, row_index, number,
                   lead(number, :quantity - 1) OVER seats_on AS last_number,
                   array_agg(seat_id) OVER seats_on AS block
            FROM candidates
            WINDOW seats_on AS (PARTITION BY section_id, row_index ORDER BY number
                                ROWS BETWEEN CURRENT ROW AND :quantity - 1 FOLLOWING)
        )
        SELECT block FROM windows WHERE last_number = number + :quantity - 1
        ORDER BY section_id, row_index, number
        LIMIT :blocks
        """


_PLAN_TYPES = {"match_id": "bigint", "scan": "integer", "quantity": "integer", "blocks": "integer"}
_ANYWHERE, _IN_CATEGORY = "", "AND ms.category_id = :category_id"

_ADJACENT_BLOCKS_ANYWHERE = Prepared("hold_adjacent_blocks", _adjacent_blocks_sql(_ANYWHERE), _PLAN_TYPES)
_ADJACENT_BLOCKS_IN_CATEGORY = Prepared(
    "hold_adjacent_blocks_in_category", _adjacent_blocks_sql(_IN_CATEGORY), {**_PLAN_TYPES, "category_id": "bigint"}
)

_RELEASE = text(
    """
    UPDATE match_seats SET status = 'available', hold_id = NULL, held_until = NULL
    WHERE match_id = :match_id AND hold_id = :hold_id AND status = 'held'
    """
)

# Before a best-available scan, when the on-sale check saw any: the match's lapsed holds'
# seats become available, in a transaction of their own that commits at once, so that the
# hold's scans (which read available seats only) and every other buyer's see them. Not in the
# hold's transaction: the rows would stay locked until it ends, and a buyer racing it for the
# last seats would skip them all and be told there are none. Rows another buyer is locking
# are skipped, never waited for (that buyer is taking or freeing them); a locked row's expiry
# is checked again on its newest version. The map shows a lapsed seat as available already,
# but its ETag counts lapsed seats, so freeing some bumps the seat version (the fan's shard,
# which the hold's own transaction has not locked: its bump comes last): without it the
# ETag would be the one from before the lapse, when the seats showed as held. The shard's
# lock is only ever held by a transaction about to commit, so the wait is short and joins no
# cycle. synchronous_commit off: lost in a crash, the seats are lapsed again, as claimable.
# At most RELEASE_AT_ONCE seats, the best (layout order) first: when thousands lapse at once,
# freeing them all took ~16 µs a seat with every one of them locked, long enough for fans
# racing this one to be told the last seats were gone. The rest stay lapsed, and the next
# hold, which still sees them, frees the next ones.
_RELEASE_LAPSED = Prepared(
    "hold_release_lapsed",
    f"""
    WITH lapsed AS (
        SELECT seat_id FROM match_seats
        WHERE match_id = :m AND status = 'held' AND held_until <= now()
        ORDER BY section_id, row_index, number
        LIMIT {RELEASE_AT_ONCE}
        FOR UPDATE SKIP LOCKED
    ), freed AS (
        UPDATE match_seats ms SET status = 'available', hold_id = NULL, held_until = NULL
          FROM lapsed WHERE ms.match_id = :m AND ms.seat_id = lapsed.seat_id
        RETURNING ms.seat_id
    )
    UPDATE match_seat_versions SET version = version + 1
     WHERE match_id = :m AND shard = :u % {SEAT_VERSION_SHARDS} AND EXISTS (SELECT 1 FROM freed)
    """,
    {"m": "bigint", "u": "bigint"},
    prefix="SET LOCAL synchronous_commit TO off;\n",
)


def _check_on_sale(row):
    if row.status != "on_sale":
        raise Conflict(f"This match is not on sale (it is {row.status}).")
    if not row.opened:
        raise Conflict("Sales for this match have not opened yet.")
    if not row.not_closed:
        raise Conflict("Sales for this match have closed.")
    if not row.category_known:
        raise ValidationFailed("Unknown category.", errors=[field_error("category_id", "no such category for this match")])


def _plan(quantity, category_id):
    """The adjacent-block plan's parameters (scan, quantity, blocks) for one request."""
    # Enough blocks for every attempt of _hold_adjacent: each failed attempt can rule out
    # at most 2 * quantity - 1 overlapping windows.
    wanted_blocks = 1 + WINDOW_JITTER + WINDOW_ATTEMPTS * (2 * quantity - 1)
    # In one category the generic plan computes every window of the scan (0.4 ms for a short
    # scan, 1.5 ms for the full one), so a short scan goes first: on an unfragmented front it
    # already holds the wanted blocks, and they are exactly the full scan's first ones (a
    # block the short scan misses ends beyond it, so it sorts after every block it found).
    # Anywhere in the stadium the plan stops after the wanted blocks whatever the scan, and
    # in a sell-out lone seats pile up at the front (the short scan fell back on 40 % of
    # holds), so it scans in full at once.
    scan = CANDIDATE_SCAN if category_id is None else min(CANDIDATE_SCAN, 2 * quantity * wanted_blocks)
    return {"scan": scan, "quantity": quantity, "blocks": wanted_blocks}


def _hold_adjacent(dbsession, params, quantity, category_id, planned=None):
    """Claim the best adjacent block that nobody else is taking and write the hold on it;
    returns the hold's row, or None if no block could be had. ``params``: the claim's and the
    hold's (see _CLAIM_BLOCK_AND_HOLD); ``planned``: the blocks the on-sale check already
    planned with :func:`_plan` (None: plan now)."""
    plan = _plan(quantity, category_id)
    statement = _ADJACENT_BLOCKS_ANYWHERE if category_id is None else _ADJACENT_BLOCKS_IN_CATEGORY
    where = {"match_id": params["match_id"], "category_id": category_id}
    blocks = planned
    if blocks is None:
        blocks = statement.execute(dbsession, {**where, **plan}).scalars().all()
    if len(blocks) < plan["blocks"] and plan["scan"] < CANDIDATE_SCAN:
        blocks = statement.execute(dbsession, {**where, **plan, "scan": CANDIDATE_SCAN}).scalars().all()
    if not blocks:
        return None
    # The best block first; if someone else is taking it, the next few in random order so a
    # rush spreads over the front blocks instead of all queueing for the second-best one.
    runners_up = blocks[1 : 1 + WINDOW_JITTER]
    random.shuffle(runners_up)
    ordered = [blocks[0]] + runners_up + blocks[1 + WINDOW_JITTER :]
    contended = set()
    attempts = 0
    for block in ordered:
        if contended.intersection(block):
            continue
        attempts += 1
        if attempts > WINDOW_ATTEMPTS:
            break
        # A savepoint per attempt, sent in the claim's own round trip: rolling back to it
        # releases the row locks of a partial block, so nobody else is turned away by our
        # leftovers. A complete block keeps its savepoint until commit (that is harmless).
        hold = _CLAIM_BLOCK_AND_HOLD.execute(dbsession, {**params, "seat_ids": block}).first()
        if hold is not None:
            return hold
        dbsession.execute(text("ROLLBACK TO SAVEPOINT claim_block"))
        contended.update(block)
    return None


def _claim(dbsession, match, hold_id, request):
    """Chosen seats, or the first free ones (best available when no adjacent block could be
    had, or for one seat): the claimed rows (seat_id, price), all of them or SeatsTaken."""
    params = {"match_id": match.id, "hold_id": hold_id, "hold_seconds": match.hold_seconds}
    if request.get("seat_ids"):
        wanted = sorted(set(request["seat_ids"]))
        rows = dbsession.execute(_CLAIM_CHOSEN, {**params, "seat_ids": wanted}).all()
        if len(rows) != len(wanted):
            taken = sorted(set(wanted) - {row.seat_id for row in rows})
            unknown = _unknown_seats(dbsession, match.id, taken)
            if unknown:
                raise ValidationFailed(
                    "Some seats are not on sale for this match.",
                    errors=[field_error("seat_ids", f"not seats of this match: {unknown[:50]}")],
                )
            raise SeatsTaken(
                f"{len(taken)} of the chosen seats are held or sold by someone else.",
                extra={"taken_seat_ids": taken},
            )
        return rows

    quantity = request["quantity"]
    if request.get("adjacent") and quantity > 1:
        raise SeatsTaken(f"No {quantity} adjacent seats are available together in one row.",
                         extra={"taken_seat_ids": []})
    rows = dbsession.execute(
        _CLAIM_FIRST_FREE, {**params, "category_id": request.get("category_id"), "quantity": quantity}
    ).all()
    if len(rows) < quantity:
        raise SeatsTaken(f"Not enough seats are available: asked for {quantity}.",
                         extra={"taken_seat_ids": [], "available": len(rows)})
    return rows


def _unknown_seats(dbsession, match_id, seat_ids):
    known = set(dbsession.execute(
        text("SELECT seat_id FROM match_seats WHERE match_id = :m AND seat_id = ANY(:ids) AND status <> 'blocked'"),
        {"m": match_id, "ids": seat_ids},
    ).scalars())
    return [seat_id for seat_id in seat_ids if seat_id not in known]


def request_field_errors(body):
    """Every rule a hold request breaks, beyond its JSON types (also run on a body that failed
    the schema, views/api/field_checks.py)."""
    seat_ids, quantity = body.get("seat_ids"), body.get("quantity")
    errors = []
    if not seat_ids and not quantity:
        errors.append(field_error("seat_ids", "send seat_ids (chosen seats) or quantity (best available)"))
    elif seat_ids and quantity:
        errors.append(field_error("seat_ids", "send seat_ids or quantity, not both"))
    # A body the schema refused may carry anything in seat_ids: count only a list of ids.
    if (isinstance(seat_ids, list) and all(isinstance(seat, int) for seat in seat_ids)
            and len(set(seat_ids)) > MAX_SEATS_PER_HOLD):
        errors.append(field_error("seat_ids", f"at most {MAX_SEATS_PER_HOLD} seats"))
    if isinstance(quantity, int) and not isinstance(quantity, bool) and not seat_ids and quantity > MAX_SEATS_PER_HOLD:
        errors.append(field_error("quantity", f"at most {MAX_SEATS_PER_HOLD}"))
    if seat_ids and body.get("category_id"):
        errors.append(field_error("category_id", "only with quantity (best available)"))
    if seat_ids and body.get("adjacent"):
        errors.append(field_error("adjacent", "only with quantity (best available)"))
    return errors


def validate_request(body):
    errors = request_field_errors(body)
    if errors:
        raise ValidationFailed("The hold request is not valid.", errors=errors)
    return len(set(body["seat_ids"])) if body.get("seat_ids") else body["quantity"]


# After the wallet lock, in one round trip: whether the match is on sale (and the category is
# its own), the fan's previous live hold (locked, to be replaced), what the fan already owns
# for the per-fan limit, and the new hold's id (so the claim can point the seats at it
# before the hold row is written). For best available with quantity > 1, the adjacent-block
# plan rides along as one more column (a 2-D array, one block per row): it reads without
# locks, so it may share the statement (the claim re-checks every seat under its lock).
# The match row is read FOR KEY SHARE, as the payment reads it (decision 0021): a close,
# cancellation or seat blocking holds the match FOR UPDATE (lock_match) until it commits, so
# a hold waits for it and then sees the status it committed, instead of claiming seats on a
# match that is closing. It is also what the hold's foreign key takes on this row anyway, only
# earlier: before the seats are locked, so that staff locking the match and then its seats
# cannot meet a hold that locked seats and then waits for the match (a deadlock).
def _on_sale_previous_owned(name, plan_sql=None, plan_types=None):
    blocks = f",\n           ARRAY({plan_sql}) AS blocks" if plan_sql else ""
    return Prepared(
        name,
        f"""
        SELECT m.status, now() >= m.sales_open_at AS opened, now() < m.sales_close_at AS not_closed,
               CAST(:category_id AS bigint) IS NULL
               OR EXISTS (SELECT 1 FROM price_categories c WHERE c.match_id = m.id AND c.id = :category_id) AS category_known,
               (SELECT id FROM holds WHERE user_id = :u AND match_id = m.id AND status = 'active' FOR UPDATE) AS previous,
               (SELECT count(*) FROM tickets WHERE user_id = :u AND match_id = m.id AND status = 'valid') AS owned,
               EXISTS (SELECT 1 FROM match_seats l WHERE l.match_id = m.id AND l.status = 'held'
                       AND l.held_until <= now()) AS lapsed_seats,
               nextval(pg_get_serial_sequence('holds', 'id')) AS hold_id{blocks}
        FROM matches m WHERE m.id = :match_id
        FOR KEY SHARE OF m
        """,
        {"u": "bigint", "match_id": "bigint", "category_id": "bigint", **(plan_types or {})},
    )


_ON_SALE_PREVIOUS_OWNED_NEXT_ID = _on_sale_previous_owned("hold_on_sale_previous_owned")
_ON_SALE_WITH_BLOCKS_ANYWHERE = _on_sale_previous_owned(
    "hold_on_sale_with_blocks", _adjacent_blocks_sql(_ANYWHERE), _PLAN_TYPES)
_ON_SALE_WITH_BLOCKS_IN_CATEGORY = _on_sale_previous_owned(
    "hold_on_sale_with_blocks_in_category", _adjacent_blocks_sql(_IN_CATEGORY), _PLAN_TYPES)

# The hold row, written once with its seats and total, and the seat-version bump (last, so
# the shard's row lock is held only until commit; see matches.bump_seat_version); the seats
# come back as the response shows them (seats_of), in the same round trip.
_INSERT_HOLD = Prepared(
    "hold_insert",
    f"""
    WITH hold AS (
        INSERT INTO holds (id, match_id, user_id, seat_ids, total, currency, status, expires_at)
        VALUES (:h, :m, :u, :ids, :t, :c, 'active', now() + make_interval(secs => :s))
        RETURNING id, match_id, user_id, seat_ids, total, currency, status, expires_at, created_at
    ), bump AS (
        UPDATE match_seat_versions SET version = version + 1
        WHERE match_id = :m AND shard = :u % {SEAT_VERSION_SHARDS}
    )
    SELECT hold.*,
           (SELECT json_agg(json_build_object('id', s.id, 'section_id', s.section_id, 'section', sec.name,
                                              'row', s.row_label, 'number', s.number,
                                              'category_id', ms.category_id, 'price', ms.price)
                            ORDER BY s.section_id, s.row_index, s.number)
            FROM seats s JOIN sections sec ON sec.id = s.section_id
            JOIN match_seats ms ON ms.seat_id = s.id AND ms.match_id = :m
            WHERE s.id = ANY(:ids)) AS seats
    FROM hold
    """,
    {"h": "bigint", "m": "bigint", "u": "bigint", "ids": "bigint[]", "t": "bigint", "c": "text", "s": "integer"},
)


def create_hold(dbsession, user_id, match, body, currency, autocommit_engine):
    """Claim seats for a fan; replaces the fan's previous live hold on this match.

    ``autocommit_engine``: ``registry["db_autocommit_engine"]``, on which lapsed holds' seats
    are made available before a best-available scan (see _RELEASE_LAPSED).

    Returns the new hold as a row (id, match_id, user_id, seat_ids, total, currency, status,
    expires_at, created_at, and ``seats`` as the response shows them).
    """
    count = validate_request(body)

    # 1. Serialise this fan (not the match): concurrent requests of one fan queue here.
    #    Everything below reads after this lock, so it sees the fan's committed requests.
    wallet_service.lock_wallet(dbsession, user_id, currency)

    # 2. The match must be on sale; replace the fan's previous live hold on this match. Best
    #    available in adjacent blocks gets its plan in the same round trip.
    check = {"u": user_id, "match_id": match.id, "category_id": body.get("category_id")}
    statement = _ON_SALE_PREVIOUS_OWNED_NEXT_ID
    if not body.get("seat_ids") and body["quantity"] > 1:
        statement = _ON_SALE_WITH_BLOCKS_ANYWHERE if check["category_id"] is None else _ON_SALE_WITH_BLOCKS_IN_CATEGORY
        check.update(_plan(body["quantity"], check["category_id"]))
    fan = statement.execute(dbsession, check).one()
    _check_on_sale(fan)
    planned = getattr(fan, "blocks", None)
    if fan.lapsed_seats and not body.get("seat_ids"):
        with autocommit_engine.connect() as conn:  # commits at once (see _RELEASE_LAPSED)
            _RELEASE_LAPSED.execute(conn, {"m": match.id, "u": user_id})
        planned = None  # planned before the lapsed seats were available: plan again
    if fan.previous is not None:
        dbsession.execute(_RELEASE, {"match_id": match.id, "hold_id": fan.previous})
        dbsession.execute(text("UPDATE holds SET status = 'replaced' WHERE id = :h"), {"h": fan.previous})
        metrics.count_after_commit(dbsession, metrics.HOLDS_RELEASED, reason="replaced")
        planned = None  # planned before the fan's own seats were freed: plan again

    # 3. Per-fan limit: tickets already bought for this match plus this hold.
    if fan.owned + count > match.max_tickets_per_fan:
        raise Conflict(
            f"At most {match.max_tickets_per_fan} tickets per fan for this match; you have {fan.owned}.",
            errors=[field_error("quantity", f"at most {max(0, match.max_tickets_per_fan - fan.owned)} more")],
        )

    # 4. The claim itself (all-or-nothing: a short claim raises and aborts the transaction),
    #    then the hold row that the claimed seats already point at. Best available in an
    #    adjacent block writes the hold in the claim's own statement; the other claims
    #    (chosen seats, the first free ones) write it next.
    if not body.get("seat_ids") and body["quantity"] > 1:
        hold = _hold_adjacent(
            dbsession,
            {"match_id": match.id, "hold_id": fan.hold_id, "hold_seconds": match.hold_seconds,
             "u": user_id, "c": currency},
            body["quantity"], body.get("category_id"), planned)
        if hold is not None:
            metrics.count_after_commit(dbsession, metrics.HOLDS_CREATED)
            return hold
    rows = _claim(dbsession, match, fan.hold_id, body)
    hold = _INSERT_HOLD.execute(
        dbsession,
        {"h": fan.hold_id, "m": match.id, "u": user_id, "ids": sorted(row.seat_id for row in rows),
         "t": sum(row.price for row in rows), "c": currency, "s": match.hold_seconds},
    ).one()
    metrics.count_after_commit(dbsession, metrics.HOLDS_CREATED)
    return hold


def release_hold(dbsession, hold):
    """The owner lets the seats go (DELETE /holds/{id})."""
    locked = dbsession.execute(
        text("SELECT status FROM holds WHERE id = :h FOR UPDATE"), {"h": hold.id}
    ).scalar_one()
    if locked != "active":
        raise Gone(f"This hold is no longer active (it is {locked}).")
    dbsession.execute(_RELEASE, {"match_id": hold.match_id, "hold_id": hold.id})
    dbsession.execute(text("UPDATE holds SET status = 'released' WHERE id = :h"), {"h": hold.id})
    metrics.count_after_commit(dbsession, metrics.HOLDS_RELEASED, reason="released")
    match_service.bump_seat_version(dbsession, hold.match_id, hold.user_id)
    dbsession.expire(hold)


def hold_state(hold, now):
    """The status a client sees: an active hold past its expiry is 'expired'."""
    if hold.status == "active" and hold.expires_at <= now:
        return "expired"
    return hold.status


def seats_of(dbsession, hold):
    return dbsession.execute(
        text(
            """
            SELECT s.id, s.section_id, sec.name AS section, s.row_label AS row, s.number,
                   ms.category_id, ms.price
            FROM seats s JOIN sections sec ON sec.id = s.section_id
            JOIN match_seats ms ON ms.seat_id = s.id AND ms.match_id = :m
            WHERE s.id = ANY(:ids) ORDER BY s.section_id, s.row_index, s.number
            """
        ),
        {"m": hold.match_id, "ids": list(hold.seat_ids)},
    ).mappings().all()


_SWEEP = text(
    """
    WITH lapsed AS (
        UPDATE holds SET status = 'expired'
        WHERE status = 'active' AND expires_at <= now()
        RETURNING id, match_id
    ), freed AS (
        UPDATE match_seats ms SET status = 'available', hold_id = NULL, held_until = NULL
        FROM lapsed WHERE ms.match_id = lapsed.match_id AND ms.hold_id = lapsed.id
          AND ms.status = 'held' AND ms.held_until <= now()
        RETURNING ms.match_id
    )
    SELECT (SELECT count(*) FROM lapsed) AS holds, (SELECT count(*) FROM freed) AS seats,
           ARRAY(SELECT DISTINCT match_id FROM freed) AS matches
    """
)


def sweep_expired(dbsession):
    """Tidy lapsed holds for reports. Correctness never depends on this running."""
    row = dbsession.execute(_SWEEP).one()
    if row.holds:
        metrics.count_after_commit(dbsession, metrics.HOLDS_EXPIRED, row.holds)
    for match_id in row.matches:
        match_service.bump_seat_version(dbsession, match_id, 0)
    return row.holds, row.seats


def get_match(dbsession, match_id):
    match = dbsession.get(Match, match_id)
    if match is None:
        raise NotFound("No such match.")
    return match
