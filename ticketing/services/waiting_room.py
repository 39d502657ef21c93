"""The waiting room: fans queue fairly for a big sale and are let in at a pace the box office
can serve (docs/decisions/0037).

Guarantees (PRODUCT.md invariant 8):
- **One place per fan and match**: a unique constraint; a second join returns the first place.
- **Fair order**: a fan who joined before sales opened gets a uniformly random key in (0, 1),
  so the time of arrival before the opening does not matter; the n-th fan who joined after
  gets key ``1 + n``: first come, first served. Fans are called in key order. "Before" is
  when the fan's request reached nginx, which paces joins in a rush (ticketing/proxy_clock.py):
  a fan it held past the opening still draws at random. So that their draw is as good as
  anyone's, **nobody is called until every join that reached nginx before the opening is in**:
  until a join that arrived after the opening has been taken (nginx passes joins on in
  arrival order), or no join from before the opening has come for DRAIN_QUIET_SECONDS, and at
  most LATE_JOINS_SECONDS after the opening. A straggler after that draws among the keys not
  called yet (those called cannot be given back), ahead of every fan who came after.
- **A pace, from time and counters alone** (no cron, no worker): every decision point (the
  public status the fans poll, a fan exchanging their pass) first *advances* the room under
  its row lock: a fixed pace earns ``admit_per_minute / 60`` calls a second since the last
  advance (no more than two seconds' worth while nobody waits, so an empty line banks no
  burst); an adaptive pace calls fans while fewer than ``max_shopping`` called fans are still
  within their shopping time and have not bought (a called fan who has not come for their
  admission within ``CALLED_GRACE_SECONDS`` stops holding a slot until they do). Nothing is called while the room is
  paused, before sales open, or while no seat is available: waiting fans learn it on their
  next poll.
- **Admission**: a called fan exchanges the pass for an admission, signed, bound to the
  account and the match, that expires ``shopping_seconds`` after the call. While the room is
  on, a hold needs one (checked without a database round trip).

Waiting costs the server nothing per fan: the pass carries the fan's key, and the public
status (now serving, how many joined, the pace) is one answer per match that nginx caches
for a second, from which the fan's client works out its position and wait.
"""
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from sqlalchemy import text

from ticketing.models import WaitingRoom
from ticketing.problems import Conflict, Forbidden, Gone, NotFound, ValidationFailed, field_error
from ticketing.services.matches import aware_datetime

PASS_AUDIENCE = "ticketing-queue-pass"
ADMISSION_AUDIENCE = "ticketing-admission"
#: A fixed pace banks at most this many seconds of calls while nobody waits.
MAX_BANKED_SECONDS = 2.0
#: How often clients are told to poll the status: before the opening, and once it is open.
POLL_BEFORE_OPENING_SECONDS = 15
POLL_WHILE_OPEN_SECONDS = 3
#: An advance for the public status is skipped when the room advanced this recently.
ADVANCE_EVERY_SECONDS = 0.25
#: Joins that reached nginx before the opening may reach the app up to this long after it
#: (nginx holds a rush's joins for up to 100 s to pace them, deploy/nginx.conf): calls start
#: once they are in, and at the latest this long after the opening.
LATE_JOINS_SECONDS = 120
#: ...or once no join from before the opening has been taken for this long.
DRAIN_QUIET_SECONDS = 2.0
#: A called fan who has not taken their admission holds a slot of the adaptive pace this long
#: (a few polls); after it, until they do, their slot goes to the next fan (they may still come).
CALLED_GRACE_SECONDS = 3 * POLL_WHILE_OPEN_SECONDS

SETTINGS = ("enabled", "mode", "admit_per_minute", "max_shopping", "shopping_seconds", "opens_at", "paused")


class NotYourTurn(Conflict):
    slug, title = "not-your-turn", "Your turn has not come yet"


class AdmissionRequired(Forbidden):
    slug, title = "waiting-room", "This sale goes through its waiting room"


# --- settings ------------------------------------------------------------------------------

def get_room(dbsession, match_id):
    return dbsession.get(WaitingRoom, match_id)


def numbers_sequence(match_id):
    """The sequence numbering the fans who join a room after sales open."""
    return f"queue_numbers_{int(match_id)}"


def configure(dbsession, match, changes, now):
    """Create or change a match's waiting room. The pace so far is settled first under the
    old settings, so a new pace counts from now; pausing stops the clock, resuming restarts it."""
    errors = []
    changes = dict(changes)
    if "opens_at" in changes:
        changes["opens_at"] = aware_datetime(changes["opens_at"], "opens_at", errors)
    if "mode" in changes and changes["mode"] not in ("fixed", "adaptive"):
        errors.append(field_error("mode", "must be fixed or adaptive"))
    for name, low, high in (("admit_per_minute", 1, 100000), ("max_shopping", 1, 100000),
                            ("shopping_seconds", 60, 7200)):
        value = changes.get(name)
        if value is not None and not low <= value <= high:
            errors.append(field_error(name, f"must be between {low} and {high}"))
    opens_at = changes.get("opens_at")
    if opens_at is not None and opens_at >= match.sales_open_at:
        errors.append(field_error("opens_at", "must be before sales open (fans who join before the opening "
                                              "are put in a random order)"))
    if errors:
        raise ValidationFailed("The waiting room's settings are not valid.", errors=errors)
    if match.status in ("closed", "cancelled"):
        raise Conflict(f"The match is {match.status}: its waiting room cannot change.")
    room = dbsession.get(WaitingRoom, match.id, with_for_update=True)
    if room is None:
        # Set up after the opening: nobody joined before it, and calls may start at once.
        room = WaitingRoom(match_id=match.id, settled_at=now,
                           joined_before_opening=0 if now >= match.sales_open_at else None)
        dbsession.add(room)
        dbsession.flush()
        sequence = numbers_sequence(match.id)
        dbsession.execute(text(f"CREATE SEQUENCE IF NOT EXISTS {sequence}"))
        dbsession.execute(text(f"ALTER SEQUENCE {sequence} RESTART WITH 1"))
        room = dbsession.get(WaitingRoom, match.id, with_for_update=True)
    else:
        advance(dbsession, match.id, now, locked=True)
        dbsession.refresh(room)
    for name in SETTINGS:
        if name in changes:
            setattr(room, name, changes[name])
    room.settled_at = now
    room.updated_at = now
    dbsession.flush()
    return room


# --- joining -------------------------------------------------------------------------------

# The fan's place, in one statement, unless they have one (the unique constraint decides
# between two joins of the same fan racing: the loser inserts nothing and reads the winner's).
# After the opening the key is 1 + the room's sequence number (nextval takes no lock, so joins
# do not queue on a counter; a join that rolls back leaves a gap of one, which only makes a
# position estimate one too high); before, the caller's uniform draw. The room's pace comes
# back with it, for the fan's first estimate of their position.
_JOIN = """
    WITH room AS (
        SELECT serving_key, called, joined_before_opening FROM waiting_rooms
        WHERE match_id = :m AND enabled AND (opens_at IS NULL OR opens_at <= :now)
    ), inserted AS (
        INSERT INTO queue_places (match_id, user_id, order_key, joined_at, taken_at)
        SELECT :m, :u, {key}, :arrived, :now FROM room
        ON CONFLICT (match_id, user_id) DO NOTHING
        RETURNING id, order_key, joined_at, called_at
    )
    SELECT inserted.*, room.serving_key, room.called, room.joined_before_opening FROM inserted, room
"""
# The name goes through text so that it becomes a regclass per row, not when the statement
# is planned: for a match without a room no row reaches nextval, and the answer is "no
# waiting room" rather than "relation does not exist" (the sequence is made with the room).
_JOIN_AFTER_OPENING = text(_JOIN.format(key="1 + nextval(CAST(CAST(:sequence AS text) AS regclass))"))
# Uniform over the keys not called yet, below the first number after the opening: plain
# (0, 1) until the first call.
_JOIN_BEFORE_OPENING = text(_JOIN.format(
    key="room.serving_key + :draw * (floor(room.serving_key) + 1 - room.serving_key)"))

_PLACE = text("SELECT id, order_key, joined_at, called_at, admitted_at, done_at FROM queue_places "
              "WHERE match_id = :m AND user_id = :u")


@dataclass
class Place:
    id: int
    order_key: float
    joined_at: datetime
    called_at: datetime | None
    new: bool
    people_ahead: int | None = None


def join(dbsession, match, user_id, now, draw=None, arrived_at=None):
    """The fan's place in line (a new one, or the one they have). ``match``: traversal's row
    (status, sales window); ``draw``: a uniform random float in (0, 1) for a fan who joins
    before sales open (tests seed it); ``arrived_at``: when the request reached nginx (its
    stamp; ``now`` without one, and never more than LATE_JOINS_SECONDS before ``now``)."""
    if match.status != "on_sale":
        raise Conflict("This match is not on sale.")
    if now >= match.sales_close_at:
        raise Gone("Sales have closed for this match.")
    arrived = now if arrived_at is None else min(now, max(arrived_at, now - timedelta(seconds=LATE_JOINS_SECONDS)))
    if arrived >= match.sales_open_at:
        row = dbsession.execute(_JOIN_AFTER_OPENING, {"m": match.id, "u": user_id, "now": now, "arrived": arrived,
                                                      "sequence": numbers_sequence(match.id)}).first()
    else:
        # Uniform in (0, 1); two fans drawing the same key (2**-53) would be refused by the
        # unique constraint: one in 10**16, not worth a retry.
        row = dbsession.execute(_JOIN_BEFORE_OPENING, {"m": match.id, "u": user_id, "now": now, "arrived": arrived,
                                                       "draw": (draw or _system_draw)()}).first()
    if row is not None:
        room = {"now_serving": {"key": row.serving_key, "called": row.called},
                "joined": {"before_opening": row.joined_before_opening}}
        ahead = people_ahead(row.order_key, room) if row.joined_before_opening is not None else None
        return Place(row.id, row.order_key, row.joined_at, row.called_at, True, ahead)
    existing = dbsession.execute(_PLACE, {"m": match.id, "u": user_id}).first()
    if existing is not None:
        return Place(existing.id, existing.order_key, existing.joined_at, existing.called_at, False)
    room = get_room(dbsession, match.id)
    if room is not None and room.enabled and room.opens_at is not None and now < room.opens_at:
        raise Conflict(f"The waiting room opens at {room.opens_at.isoformat()}.",
                       extra={"opens_at": room.opens_at.isoformat()})
    raise Conflict("This match has no waiting room: buy directly.")


def _system_draw():
    return (secrets.randbits(53) + 1) / (2**53 + 2)


def my_place(dbsession, match_id, user_id):
    row = dbsession.execute(_PLACE, {"m": match_id, "u": user_id}).first()
    if row is None:
        raise NotFound("You have no place in this match's waiting room: join it first.")
    return row


# --- the pace ------------------------------------------------------------------------------

_LOCK_ROOM = """
    SELECT r.match_id, r.enabled, r.mode, r.admit_per_minute, r.max_shopping, r.shopping_seconds,
           r.paused, r.joined_before_opening, r.called, r.serving_key, r.credit,
           r.settled_at, m.status AS match_status, m.sales_open_at, m.sales_close_at
    FROM waiting_rooms r JOIN matches m ON m.id = r.match_id
    WHERE r.match_id = :m
    FOR UPDATE OF r {skip}
"""

# Fans waiting (not called yet), and how many joined before the opening (when they reached nginx).
_WAITING = text("SELECT count(*) AS waiting FROM queue_places WHERE match_id = :m AND called_at IS NULL")
# Whether every join that reached nginx before the opening is in (see the module docstring):
# how many there are, the last time one was taken, and whether a later one was taken.
_EARLY_JOINS = text(
    """
    SELECT count(*) FILTER (WHERE joined_at < :opening) AS before_opening,
           max(taken_at) FILTER (WHERE joined_at < :opening) AS last_taken,
           coalesce(bool_or(joined_at >= :opening), false) AS one_after
    FROM queue_places WHERE match_id = :m
    """
)

# Seats a called fan could still buy: available, or held by a hold that has lapsed.
_AVAILABLE = text(
    """
    SELECT count(*) FILTER (WHERE status = 'available' OR (status = 'held' AND held_until <= now())) AS available,
           count(*) FILTER (WHERE status = 'held' AND held_until > now()) AS held
    FROM match_seats WHERE match_id = :m
    """
)

# Called fans still shopping: within their shopping time, not done (bought), and either
# admitted or called so recently that they may not have polled yet.
_SHOPPING = text(
    "SELECT count(*) FROM queue_places WHERE match_id = :m AND called_at IS NOT NULL AND done_at IS NULL "
    "AND called_at > :since AND (admitted_at IS NOT NULL OR called_at > :grace)"
)

# Call the next fans: the lowest keys not called yet, in one statement.
_CALL = text(
    """
    WITH next AS (
        SELECT id FROM queue_places WHERE match_id = :m AND called_at IS NULL
        ORDER BY order_key LIMIT :n FOR UPDATE
    ), called AS (
        UPDATE queue_places q SET called_at = :now FROM next WHERE q.id = next.id RETURNING q.order_key
    ), history AS (
        INSERT INTO waiting_room_calls (match_id, called_at, count, up_to_key)
        SELECT :m, :now, count(*), max(order_key) FROM called HAVING count(*) > 0
    )
    SELECT count(*) AS n, max(order_key) AS up_to FROM called
    """
)

_SETTLE = text(
    """
    UPDATE waiting_rooms SET called = called + :n, credit = :credit, settled_at = :now,
           serving_key = greatest(serving_key, coalesce(:up_to, serving_key)),
           joined_before_opening = CASE WHEN :not_open THEN NULL
                                        ELSE coalesce(:before_opening, joined_before_opening) END
    WHERE match_id = :m
    """
)


@dataclass
class Advance:
    room: object  # the locked row, before this advance
    called_now: int
    available: int | None
    held: int | None


def _seconds(later, earlier):
    return max(0.0, (later - earlier).total_seconds()) if earlier is not None else 0.0


def advance(dbsession, match_id, now, locked=False, skip_if_busy=False):
    """Call the fans whose turn has come by ``now`` (see the module's docstring); returns an
    :class:`Advance`, or None if there is no room (or ``skip_if_busy`` and another request is
    advancing it right now). Runs in the caller's transaction, under the room's row lock."""
    skip = "SKIP LOCKED" if skip_if_busy and not locked else ""
    room = dbsession.execute(text(_LOCK_ROOM.format(skip=skip)), {"m": match_id}).first()
    if room is None:
        return None
    opening = room.sales_open_at
    before_opening = None
    if opening <= now and room.joined_before_opening is None:
        # Are the joins from before the opening all in? Then their count is final.
        early = dbsession.execute(_EARLY_JOINS, {"m": match_id, "opening": opening}).one()
        quiet_since = max(opening, early.last_taken or opening)
        if (early.one_after or _seconds(now, quiet_since) >= DRAIN_QUIET_SECONDS
                or _seconds(now, opening) >= LATE_JOINS_SECONDS):
            before_opening = early.before_opening
    # Calls start when sales have opened and every join from before is in.
    opened = opening <= now and (room.joined_before_opening is not None or before_opening is not None)
    running = (room.enabled and not room.paused and room.match_status == "on_sale"
               and opened and now < room.sales_close_at)
    credit, newly, available, held = room.credit, 0, None, None
    if running:
        waiting = dbsession.execute(_WAITING, {"m": match_id}).one().waiting
        if room.mode == "fixed":
            banked = room.admit_per_minute / 60 * MAX_BANKED_SECONDS
            # The clock runs from the last advance, and never before sales opened (an advance
            # while joins from before the opening were coming in settled the clock too).
            since = max(room.settled_at or opening, opening)
            credit = credit + room.admit_per_minute / 60 * _seconds(now, since)
            if waiting <= 0:
                credit = min(credit, max(1.0, banked))
            newly = min(int(credit), waiting)
        else:
            since = now - timedelta(seconds=room.shopping_seconds)
            grace = now - timedelta(seconds=CALLED_GRACE_SECONDS)
            shopping = dbsession.execute(_SHOPPING, {"m": match_id, "since": since, "grace": grace}).scalar_one()
            newly = max(0, min(room.max_shopping - shopping, waiting))
        if newly > 0:
            available, held = dbsession.execute(_AVAILABLE, {"m": match_id}).one()
            if available == 0:
                newly = 0  # nothing to sell now: the fans wait (seats held may come back)
    up_to = None
    if newly > 0:
        called = dbsession.execute(_CALL, {"m": match_id, "n": newly, "now": now}).one()
        newly, up_to = called.n, called.up_to
        if room.mode == "fixed":
            credit -= newly
    # (Before the opening the count is unknown: staff may have moved the opening later.)
    dbsession.execute(_SETTLE, {"m": match_id, "n": newly, "credit": credit, "now": now, "up_to": up_to,
                                "before_opening": before_opening, "not_open": now < opening})
    return Advance(room, newly, available, held)


# --- what fans poll --------------------------------------------------------------------------

_RECENT_PACE = text(
    "SELECT coalesce(sum(count), 0) FROM waiting_room_calls WHERE match_id = :m AND called_at > :since"
)

_STATE = text(
    """
    SELECT r.enabled, r.mode, r.paused, r.opens_at, r.admit_per_minute, r.max_shopping, r.shopping_seconds,
           r.called, r.serving_key, r.settled_at, r.joined_before_opening,
           m.status AS match_status, m.sales_open_at, m.sales_close_at,
           (SELECT count(*) FROM queue_places q WHERE q.match_id = r.match_id
             AND q.joined_at < m.sales_open_at) AS before_now,
           (SELECT count(*) FROM queue_places q WHERE q.match_id = r.match_id
             AND q.joined_at >= m.sales_open_at) AS after_now
    FROM waiting_rooms r JOIN matches m ON m.id = r.match_id WHERE r.match_id = :m
    """
)


def status(dbsession, match_id, now):
    """The public "now serving" answer of a match's waiting room (one per match, cacheable)."""
    room = dbsession.execute(_STATE, {"m": match_id}).first()
    if room is None or not room.enabled:
        return {"match_id": match_id, "state": "off", "poll_after_seconds": None}
    if room.settled_at is None or _seconds(now, room.settled_at) >= ADVANCE_EVERY_SECONDS:
        advance(dbsession, match_id, now, skip_if_busy=True)
        room = dbsession.execute(_STATE, {"m": match_id}).one()
    available, held = dbsession.execute(_AVAILABLE, {"m": match_id}).one()
    recent = dbsession.execute(_RECENT_PACE, {"m": match_id, "since": now - timedelta(seconds=60)}).scalar_one()
    opened = now >= room.sales_open_at
    if room.match_status in ("closed", "cancelled") or now >= room.sales_close_at:
        state = "closed"
    elif available == 0 and held == 0:
        state = "sold_out"
    elif not opened:
        state = "not_open"
    elif room.joined_before_opening is None:
        state = "opening"  # sales are open; the joins from before the opening are still coming in
    elif room.paused:
        state = "paused"
    else:
        state = "open"
    # Counted live: a join that reached nginx before the opening may still be arriving.
    before = room.before_now
    return {
        "match_id": match_id,
        "state": state,
        "sold_out": available == 0 and held == 0,
        "opens_at": room.opens_at,
        "sales_open_at": room.sales_open_at,
        "now_serving": {"key": room.serving_key, "called": room.called},
        "joined": {"before_opening": before, "after_opening": room.after_now},
        "pace": {"mode": room.mode, "called_last_minute": recent,
                 "admit_per_minute": room.admit_per_minute if room.mode == "fixed" else None,
                 "max_shopping": room.max_shopping if room.mode == "adaptive" else None},
        "shopping_seconds": room.shopping_seconds,
        "seats": {"available": available, "held": held},
        "poll_after_seconds": POLL_WHILE_OPEN_SECONDS if opened else POLL_BEFORE_OPENING_SECONDS,
        "updated_at": now,
    }


def people_ahead(order_key, room_status):
    """How many fans are ahead of the place with ``order_key``, from the public status alone
    (what a fan's client computes): exact after the opening, an estimate (uniform keys) for a
    place drawn before it."""
    serving = room_status["now_serving"]
    pre = room_status["joined"]["before_opening"] or 0
    if order_key <= serving["key"]:
        return 0
    if order_key < 1:
        return max(0, round(pre * (order_key - serving["key"])))
    return max(0, pre + int(order_key) - 1 - serving["called"])


# --- passes and admissions -------------------------------------------------------------------

def issue_pass(secret, match_id, user_id, place):
    claims = {"aud": PASS_AUDIENCE, "sub": str(user_id), "m": match_id, "k": place.order_key, "p": place.id}
    return jwt.encode(claims, secret, algorithm="HS256")


def read_pass(secret, token, match_id, user_id):
    """The order key of a valid pass of this fan for this match, or None."""
    try:
        claims = jwt.decode(token or "", secret, algorithms=["HS256"], audience=PASS_AUDIENCE,
                            options={"require": ["sub", "m", "k"]})
    except jwt.PyJWTError:
        return None
    if claims["sub"] != str(user_id) or claims["m"] != match_id:
        return None
    return claims["k"]


_ADMIT = text(
    """
    UPDATE queue_places SET admitted_at = coalesce(admitted_at, CASE WHEN called_at IS NOT NULL THEN :now END)
    WHERE match_id = :m AND user_id = :u
    RETURNING id, order_key, called_at, done_at
    """
)


def exchange(dbsession, secret, match_id, user_id, presented_pass, now):
    """Exchange a fan's pass for an admission once their turn has come: ``(token, expires)``."""
    key = read_pass(secret, presented_pass, match_id, user_id)
    if key is None:
        raise ValidationFailed("This is not your pass for this match's waiting room.",
                               errors=[field_error("pass", "invalid, or another fan's or match's")])
    room = get_room(dbsession, match_id)
    if room is None or not room.enabled:
        raise Conflict("This match has no waiting room: buy directly.")
    place = dbsession.execute(_PLACE, {"m": match_id, "u": user_id}).first()
    if place is not None and place.called_at is None:
        # Not called yet as of the last advance: advance now (unless another request is doing
        # it this instant), so no fan whose turn has come waits for someone to poll.
        advance(dbsession, match_id, now, skip_if_busy=True)
    place = dbsession.execute(_ADMIT, {"m": match_id, "u": user_id, "now": now}).first()
    if place is None or place.order_key != key:
        raise ValidationFailed("This pass does not match your place.", errors=[field_error("pass", "stale")])
    if place.called_at is None:
        state = status(dbsession, match_id, now)
        if state["sold_out"]:
            raise Gone("The match has sold out.")
        raise NotYourTurn("Your turn has not come yet: keep polling the waiting room's status.",
                          extra={"people_ahead": people_ahead(key, state)})
    expires = place.called_at + timedelta(seconds=room.shopping_seconds)
    if expires <= now:
        raise Gone("Your turn came and its shopping time is over.")
    claims = {"aud": ADMISSION_AUDIENCE, "sub": str(user_id), "m": match_id, "p": place.id,
              "exp": math.floor(expires.timestamp())}
    return jwt.encode(claims, secret, algorithm="HS256"), expires


def check_admission(secret, token, match_id, user_id, now=None):
    """Refuse a hold without a valid admission of this fan for this match (no database)."""
    options = {"require": ["sub", "m", "exp"]}
    try:
        claims = jwt.decode(token or "", secret, algorithms=["HS256"], audience=ADMISSION_AUDIENCE,
                            options=options, leeway=0)
        valid = claims["sub"] == str(user_id) and claims["m"] == match_id
        if now is not None and claims["exp"] <= now.timestamp():
            valid = False
    except jwt.PyJWTError:
        valid = False
    if not valid:
        raise AdmissionRequired(
            "This match's sale goes through its waiting room: join it (POST /api/v1/matches/"
            f"{match_id}/queue), poll its status, and when your turn comes exchange your pass "
            f"(POST /api/v1/matches/{match_id}/queue/admission); then send the admission with your "
            "hold in the Queue-Admission header.",
            extra={"join": f"/api/v1/matches/{match_id}/queue"})


# --- staff figures -------------------------------------------------------------------------

_FIGURES = text(
    """
    SELECT count(*) AS joined,
           count(*) FILTER (WHERE called_at IS NULL) AS waiting,
           count(*) FILTER (WHERE called_at IS NOT NULL) AS called,
           count(*) FILTER (WHERE admitted_at IS NOT NULL) AS admitted,
           count(*) FILTER (WHERE called_at > :since AND done_at IS NULL
                            AND (admitted_at IS NOT NULL OR called_at > :grace)) AS shopping,
           count(*) FILTER (WHERE done_at IS NOT NULL) AS bought
    FROM queue_places WHERE match_id = :m
    """
)

_HISTORY = text(
    """
    WITH minutes AS (
        SELECT generate_series(date_trunc('minute', :start), date_trunc('minute', :now), interval '1 minute') AS minute
    )
    SELECT minutes.minute,
           (SELECT count(*) FROM queue_places q WHERE q.match_id = :m
             AND q.joined_at >= minutes.minute AND q.joined_at < minutes.minute + interval '1 minute') AS joined,
           (SELECT coalesce(sum(c.count), 0) FROM waiting_room_calls c WHERE c.match_id = :m
             AND c.called_at >= minutes.minute AND c.called_at < minutes.minute + interval '1 minute') AS called,
           (SELECT count(*) FROM queue_places q WHERE q.match_id = :m
             AND q.done_at >= minutes.minute AND q.done_at < minutes.minute + interval '1 minute') AS bought
    FROM minutes ORDER BY minutes.minute
    """
)


def figures(dbsession, match_id, now, minutes=60):
    """What staff watch: fans waiting, called, admitted, shopping and bought, and a minute by
    minute history of joins, calls and purchases over the last ``minutes``."""
    room = get_room(dbsession, match_id)
    if room is None:
        return None
    counts = dbsession.execute(
        _FIGURES, {"m": match_id, "since": now - timedelta(seconds=room.shopping_seconds),
                   "grace": now - timedelta(seconds=CALLED_GRACE_SECONDS)}).one()
    history = dbsession.execute(_HISTORY, {"m": match_id, "now": now,
                                           "start": now - timedelta(minutes=minutes - 1)}).all()
    return {
        "waiting": counts.waiting, "joined": counts.joined, "called": counts.called,
        "admitted": counts.admitted, "shopping": counts.shopping, "bought": counts.bought,
        "history": [{"minute": row.minute, "joined": row.joined, "called": int(row.called), "bought": row.bought}
                    for row in history],
    }
