"""Matches: scheduling, price categories, the seating plan and publication.

Publishing turns the draft seating plan into the live inventory (``match_seats``) with one
``INSERT ... SELECT``, under a row lock on the match so two staff members cannot publish
twice. After publication the stadium and seating of a match are frozen.
"""
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, or_, select, text

from ticketing.models import Match, PriceCategory, Seat, SeatAssignment, Section, Stadium
from ticketing.models.match import SEAT_VERSION_SHARDS
from ticketing.services.stadiums import escape_like, insert_unique
from ticketing.problems import Conflict, NotFound, ValidationFailed, field_error
from ticketing.services import audit, notices

DEFAULT_HOLD_SECONDS = 600
DEFAULT_MAX_TICKETS = 6
DEFAULT_REFUND_CUTOFF = timedelta(hours=24)
MAX_PRICE = 100_000_000  # one million in minor units: nothing a volleyball seat costs
BLOCK_REASONS = ("press", "vip", "broken", "other")
PUBLIC_STATUSES = ("on_sale", "closed", "cancelled")
MIN_YEAR, MAX_YEAR = 2000, 2100


def utcnow():
    return datetime.now(timezone.utc)


def aware_datetime(value, field, errors):
    if value is None:
        return None
    if isinstance(value, str):
        # RFC 3339 (the API's date-time) lets the "T" and the "Z" be lower case.
        if len(value) > 10 and value[10] == "t":
            value = value[:10] + "T" + value[11:]
        if value[-1:] in ("Z", "z"):
            value = value[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            errors.append(field_error(field, "must be an ISO-8601 timestamp"))
            return None
    if value.tzinfo is None:
        errors.append(field_error(field, "must include a timezone offset (e.g. Z or +02:00)"))
        return None
    # A match is scheduled this century; the bound also keeps date arithmetic (refund cutoff =
    # kick-off - 24 h) and time zone shifts away from datetime's year 1 / 9999 edges.
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        errors.append(field_error(field, f"must be between the years {MIN_YEAR} and {MAX_YEAR}"))
        return None
    return value.astimezone(timezone.utc)


# The rule of the ck_matches_teams_differ constraint, asked of the database itself: Python's
# str.lower() and PostgreSQL's lower() disagree on some letters (a Turkish dotted İ, a Greek
# final sigma), and a pair that passed a Python check then failed the constraint with a 500.
_SAME_TEAM = text("SELECT lower(CAST(:home AS text)) = lower(CAST(:away AS text))")


def _check_teams(dbsession, values, errors):
    for field in ("home_team", "away_team"):
        if not (values[field] or "").strip():
            errors.append(field_error(field, "must not be empty"))
            return
    if dbsession.execute(_SAME_TEAM, {"home": values["home_team"], "away": values["away_team"]}).scalar_one():
        errors.append(field_error("away_team", "must differ from home_team"))


def _validate_schedule(values, errors, now, creating):
    starts_at = values["starts_at"]
    if starts_at is not None and creating and starts_at <= now:
        errors.append(field_error("starts_at", "must be in the future"))
    if values["sales_close_at"] is not None and starts_at is not None and values["sales_close_at"] > starts_at:
        errors.append(field_error("sales_close_at", "must not be after kick-off"))
    if values["sales_open_at"] is not None and values["sales_close_at"] is not None:
        if values["sales_open_at"] >= values["sales_close_at"]:
            errors.append(field_error("sales_open_at", "must be before sales_close_at"))
    if not 30 <= values["hold_seconds"] <= 3600:
        errors.append(field_error("hold_seconds", "must be between 30 and 3600"))
    if not 1 <= values["max_tickets_per_fan"] <= 50:
        errors.append(field_error("max_tickets_per_fan", "must be between 1 and 50"))


def _require(data, fields, errors):
    for field in fields:
        if data.get(field) in (None, ""):
            errors.append(field_error(field, "is required"))


def _coerce_ints(values, errors):
    for field in ("hold_seconds", "max_tickets_per_fan"):
        value = values[field]
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(field_error(field, "must be a whole number"))
            values[field] = DEFAULT_HOLD_SECONDS if field == "hold_seconds" else DEFAULT_MAX_TICKETS


def create_match(dbsession, data):
    errors = []
    _require(data, ("stadium_id", "home_team", "away_team", "starts_at"), errors)
    now = utcnow()
    stadium = dbsession.get(Stadium, data["stadium_id"]) if isinstance(data.get("stadium_id"), int) else None
    if stadium is None:
        errors.append(field_error("stadium_id", "no such stadium"))
    starts_at = aware_datetime(data.get("starts_at"), "starts_at", errors)
    values = {
        "home_team": (data.get("home_team") or "").strip(),
        "away_team": (data.get("away_team") or "").strip(),
        "starts_at": starts_at,
        "sales_open_at": aware_datetime(data.get("sales_open_at"), "sales_open_at", errors) or now,
        "sales_close_at": aware_datetime(data.get("sales_close_at"), "sales_close_at", errors) or starts_at,
        "refund_cutoff_at": aware_datetime(data.get("refund_cutoff_at"), "refund_cutoff_at", errors)
        or (starts_at - DEFAULT_REFUND_CUTOFF if starts_at else None),
        "hold_seconds": data.get("hold_seconds", DEFAULT_HOLD_SECONDS),
        "max_tickets_per_fan": data.get("max_tickets_per_fan", DEFAULT_MAX_TICKETS),
    }
    _coerce_ints(values, errors)
    _validate_schedule(values, errors, now, creating=True)
    _check_teams(dbsession, values, errors)
    if errors:
        raise ValidationFailed("The match is not valid.", errors=errors)
    match = Match(stadium_id=stadium.id, status="draft", **values)
    dbsession.add(match)
    dbsession.flush()
    return match


EDITABLE = ("home_team", "away_team", "starts_at", "sales_open_at", "sales_close_at",
            "refund_cutoff_at", "hold_seconds", "max_tickets_per_fan", "stadium_id")


def update_match(dbsession, match, changes):
    lock_match(dbsession, match.id)
    if match.status in ("closed", "cancelled"):
        raise Conflict(f"A {match.status} match cannot be edited.")
    errors = []
    if "stadium_id" in changes and changes["stadium_id"] != match.stadium_id:
        if match.status != "draft":
            raise Conflict("The stadium of a published match cannot change.",
                           errors=[field_error("stadium_id", "frozen after publication")])
        if dbsession.get(Stadium, changes["stadium_id"]) is None:
            errors.append(field_error("stadium_id", "no such stadium"))
        else:
            # The old plan named seats of the old stadium.
            dbsession.execute(text("DELETE FROM seat_assignments WHERE match_id = :m"), {"m": match.id})
            match.seat_version += 1  # a draft's seat map is drawn from its plan
    values = {field: getattr(match, field) for field in EDITABLE}
    for field in EDITABLE:
        if field in changes:
            value = changes[field]
            if field.endswith("_at"):
                value = aware_datetime(value, field, errors)
            elif field in ("home_team", "away_team") and isinstance(value, str):
                value = value.strip()  # as on create
            values[field] = value
    # Only the deadlines moved along with kick-off: those the request set are parsed above.
    moved = moved_deadlines(match, values["starts_at"], changes)
    changes = {**changes, **moved}
    values.update(moved)
    _coerce_ints(values, errors)
    _validate_schedule(values, errors, utcnow(), creating=False)
    _check_teams(dbsession, values, errors)
    if "starts_at" in changes and values["starts_at"] and values["starts_at"] <= utcnow():
        errors.append(field_error("starts_at", "must be in the future"))
    if errors:
        raise ValidationFailed("The match is not valid.", errors=errors)
    old_starts_at = match.starts_at
    for field in EDITABLE:
        if field in changes:
            setattr(match, field, values[field])
    dbsession.flush()
    if match.status != "draft" and match.starts_at != old_starts_at:
        # Fans who bought for the old date hear of the new one (in bulk, by the mail sender).
        notices.match_rescheduled(dbsession, match, old_starts_at)
    return match


#: The deadlines that are set relative to kick-off: a rescheduled match takes them along, so
#: a match moved a week later does not stop selling (or stop refunds) a week early.
MOVES_WITH_KICK_OFF = ("sales_close_at", "refund_cutoff_at")


def moved_deadlines(match, new_starts_at, changes):
    """{field: new time} for the deadlines a kick-off change moves (those not changed by hand)."""
    if new_starts_at is None or match.starts_at is None or new_starts_at == match.starts_at:
        return {}
    shift = new_starts_at - match.starts_at
    return {field: getattr(match, field) + shift for field in MOVES_WITH_KICK_OFF
            if field not in changes and getattr(match, field) is not None}


def paid_orders_of(dbsession, match_id, limit=50):
    """(rows, total) of the paid orders of a match: ``id``, ``total``, ``currency``, the buyer."""
    query = text(
        """
        SELECT o.id, o.total, o.currency, o.created_at, u.full_name, u.email, count(*) OVER () AS n
        FROM orders o JOIN users u ON u.id = o.user_id
        WHERE o.match_id = :m AND o.status = 'paid'
        ORDER BY o.id LIMIT :limit
        """
    )
    rows = dbsession.execute(query, {"m": match_id, "limit": limit}).mappings().all()
    return [dict(row) for row in rows], (rows[0]["n"] if rows else 0)


def lock_match(dbsession, match_id):
    """Serialise state changes of one match (publish, close, cancel, seating edits)."""
    # populate_existing: the route already loaded this row into the session; without it the
    # status we check after waiting for the lock would be the stale one from before the wait.
    return dbsession.execute(
        select(Match).where(Match.id == match_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()


def list_matches(dbsession, *, limit, offset, public_only, date_from=None, date_to=None,
                 team=None, stadium_id=None, status=None):
    query = select(Match)
    if public_only:
        query = query.where(Match.status.in_(PUBLIC_STATUSES))
    if date_from is not None:
        query = query.where(Match.starts_at >= date_from)
    if date_to is not None:
        query = query.where(Match.starts_at < date_to)
    if team:
        pattern = "%" + escape_like(team.strip()) + "%"
        query = query.where(or_(Match.home_team.ilike(pattern, escape="\\"), Match.away_team.ilike(pattern, escape="\\")))
    if stadium_id is not None:
        query = query.where(Match.stadium_id == stadium_id)
    if status:
        query = query.where(Match.status == status)
    total = dbsession.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    matches = dbsession.execute(query.order_by(Match.starts_at, Match.id).limit(limit).offset(offset)).scalars().all()
    return matches, total


# --- price categories -------------------------------------------------------------------

def add_category(dbsession, match, name, price, currency):
    lock_match(dbsession, match.id)
    if match.status != "draft":
        raise Conflict("Price categories can only be added while the match is a draft.")
    name = _valid_category(name, price)
    if dbsession.execute(
        select(PriceCategory.id).where(PriceCategory.match_id == match.id, func.lower(PriceCategory.name) == name.lower())
    ).first():
        raise Conflict("This match already has a category with that name.",
                       errors=[field_error("name", "is already used for this match", "duplicate")])
    match.seat_version += 1  # a draft's seat map lists its categories
    category = PriceCategory(match_id=match.id, name=name, price=price, currency=currency)
    insert_unique(dbsession, category, Conflict(
        "This match already has a category with that name.",
        errors=[field_error("name", "is already used for this match", "duplicate")],
    ))
    return category


def _valid_category(name, price):
    """The category's name, stripped; every bad field named at once."""
    name = (name or "").strip()
    errors = []
    if not name:
        errors.append(field_error("name", "must not be empty"))
    if not isinstance(price, int) or isinstance(price, bool) or not 0 <= price <= MAX_PRICE:
        errors.append(field_error("price", f"must be a whole number of minor units between 0 and {MAX_PRICE}"))
    if errors:
        raise ValidationFailed("The price category is not valid.", errors=errors)
    return name


def _draft_category(dbsession, match, category_id, verb):
    lock_match(dbsession, match.id)
    if match.status != "draft":
        raise Conflict(f"Price categories can only be {verb} while the match is a draft.")
    category = dbsession.get(PriceCategory, category_id)
    if category is None or category.match_id != match.id:
        raise NotFound("No such price category for this match.")
    return category


def update_category(dbsession, match, category_id, name, price):
    """Rename or re-price a category of a draft (its planned seats keep the category)."""
    category = _draft_category(dbsession, match, category_id, "changed")
    name = _valid_category(name, price)
    if dbsession.execute(
        select(PriceCategory.id).where(PriceCategory.match_id == match.id, PriceCategory.id != category.id,
                                       func.lower(PriceCategory.name) == name.lower())
    ).first():
        raise Conflict("This match already has a category with that name.",
                       errors=[field_error("name", "is already used for this match", "duplicate")])
    before = {"name": category.name, "price": category.price}
    match.seat_version += 1  # a draft's seat map lists its categories
    insert_unique(dbsession, category, Conflict(
        "This match already has a category with that name.",
        errors=[field_error("name", "is already used for this match", "duplicate")],
    ), changes={"name": name, "price": price})
    return category, before


def delete_category(dbsession, match, category_id):
    """Remove a category of a draft; the seats planned in it go off sale (the plan's rows go
    with it, by the foreign key's cascade). Returns (category, planned seats removed)."""
    category = _draft_category(dbsession, match, category_id, "deleted")
    planned = dbsession.execute(
        text("SELECT count(*) FROM seat_assignments WHERE match_id = :m AND category_id = :c"),
        {"m": match.id, "c": category.id},
    ).scalar_one()
    dbsession.execute(
        text("DELETE FROM seat_assignments WHERE match_id = :m AND category_id = :c"),
        {"m": match.id, "c": category.id},
    )
    dbsession.delete(category)
    match.seat_version += 1
    dbsession.flush()
    return category, planned


def categories(dbsession, match_id):
    return dbsession.execute(
        select(PriceCategory).where(PriceCategory.match_id == match_id).order_by(PriceCategory.id)
    ).scalars().all()


# --- seating plan ------------------------------------------------------------------------

def _selector_seat_ids(dbsession, stadium_id, selector, path, errors):
    """Resolve one selector (a section, some of its rows, a seat range, or seat ids) to seat ids."""
    # A field the chosen form of selector does not use is refused, never ignored: ignoring
    # ``from``/``to`` without a ``row`` blocked or sold a whole section instead of a few seats.
    given = {field for field in ("seat_ids", "section_id", "rows", "row", "from", "to")
             if selector.get(field) not in (None, [])}
    if "seat_ids" in given:
        stray = sorted(given - {"seat_ids"})
    elif "rows" in given:
        stray = sorted(given & {"row", "from", "to"})
    else:
        stray = [] if "row" in given else sorted(given & {"from", "to"})
    if stray:
        for field in stray:
            reason = ("not with seat_ids" if "seat_ids" in given
                      else "not with rows" if "rows" in given else "only with row")
            errors.append(field_error(f"{path}/{field}", reason))
        return []
    if selector.get("seat_ids") is not None:
        wanted = sorted(set(selector["seat_ids"]))
        found = dbsession.execute(
            select(Seat.id).where(Seat.stadium_id == stadium_id, Seat.id.in_(wanted))
        ).scalars().all()
        missing = sorted(set(wanted) - set(found))
        if missing:
            errors.append(field_error(f"{path}/seat_ids", f"unknown seats in this stadium: {missing[:20]}"))
        return found
    section_id = selector.get("section_id")
    section = dbsession.get(Section, section_id) if section_id is not None else None
    if section is None or section.stadium_id != stadium_id:
        errors.append(field_error(f"{path}/section_id", "no such section in this match's stadium"))
        return []
    query = select(Seat.id).where(Seat.section_id == section.id)
    rows = [str(label) for label in selector["rows"]] if selector.get("rows") else None
    row = str(selector["row"]) if selector.get("row") is not None else None
    if rows:
        known = set(dbsession.execute(
            select(Seat.row_label).where(Seat.section_id == section.id, Seat.row_label.in_(rows)).distinct()
        ).scalars())
        unknown = [label for label in rows if label not in known]
        if unknown:
            errors.append(field_error(f"{path}/rows", f"unknown rows in section {section.name}: {unknown[:20]}"))
        query = query.where(Seat.row_label.in_(rows))
    elif row is not None:
        first, last = selector.get("from", 1), selector.get("to")
        seats_in_row = dbsession.execute(
            select(func.max(Seat.number)).where(Seat.section_id == section.id, Seat.row_label == row)
        ).scalar_one()
        if seats_in_row is None:
            errors.append(field_error(f"{path}/row", f"unknown row {row!r} in section {section.name}"))
            return []
        last = seats_in_row if last is None else last
        if not 1 <= first <= last <= seats_in_row:
            errors.append(field_error(f"{path}/to", f"row {row} has seats 1..{seats_in_row}"))
            return []
        query = query.where(Seat.row_label == row, Seat.number.between(first, last))
    return dbsession.execute(query).scalars().all()


_UPSERT_CATEGORY = text(
    """
    INSERT INTO seat_assignments (match_id, seat_id, category_id)
    SELECT :match_id, seat_id, :category_id FROM unnest(CAST(:seat_ids AS bigint[])) AS seat_id
    ON CONFLICT (match_id, seat_id) DO UPDATE SET category_id = EXCLUDED.category_id
    """
)

_UPSERT_BLOCK = text(
    """
    INSERT INTO seat_assignments (match_id, seat_id, blocked_reason)
    SELECT :match_id, seat_id, :reason FROM unnest(CAST(:seat_ids AS bigint[])) AS seat_id
    ON CONFLICT (match_id, seat_id) DO UPDATE SET blocked_reason = EXCLUDED.blocked_reason
    """
)


def replace_seating(dbsession, match, assignments, blocked):
    """Replace the draft plan. Rules apply in order (later ones win); blocks apply last."""
    match = lock_match(dbsession, match.id)
    if match.status != "draft":
        raise Conflict("Seating can only change while the match is a draft.")
    category_ids = {category.id for category in categories(dbsession, match.id)}
    errors = []
    resolved = []
    for index, rule in enumerate(assignments):
        path = f"assignments/{index}"
        if rule["category_id"] not in category_ids:
            errors.append(field_error(f"{path}/category_id", "no such price category for this match"))
        resolved.append((rule["category_id"], _selector_seat_ids(dbsession, match.stadium_id, rule, path, errors)))
    blocks = []
    for index, rule in enumerate(blocked):
        path = f"blocked/{index}"
        reason = rule.get("reason", "other")
        if reason not in BLOCK_REASONS:
            errors.append(field_error(f"{path}/reason", f"must be one of {', '.join(BLOCK_REASONS)}"))
        blocks.append((reason, _selector_seat_ids(dbsession, match.stadium_id, rule, path, errors)))
    if errors:
        raise ValidationFailed("The seating plan is not valid.", errors=errors)

    dbsession.execute(text("DELETE FROM seat_assignments WHERE match_id = :m"), {"m": match.id})
    # A draft's seat map is drawn from this plan, so its ETag must move with it.
    match.seat_version += 1
    for category_id, seat_ids in resolved:
        if seat_ids:
            dbsession.execute(_UPSERT_CATEGORY, {"match_id": match.id, "category_id": category_id, "seat_ids": list(seat_ids)})
    for reason, seat_ids in blocks:
        if seat_ids:
            dbsession.execute(_UPSERT_BLOCK, {"match_id": match.id, "reason": reason, "seat_ids": list(seat_ids)})
    return seating_summary(dbsession, match.id)


def seating_summary(dbsession, match_id):
    row = dbsession.execute(
        text(
            """
            SELECT count(*) FILTER (WHERE blocked_reason IS NULL) AS on_sale,
                   count(*) FILTER (WHERE blocked_reason IS NOT NULL) AS blocked
            FROM seat_assignments WHERE match_id = :m
            """
        ),
        {"m": match_id},
    ).one()
    per_category = dbsession.execute(
        text(
            """
            SELECT category_id, count(*) FROM seat_assignments
            WHERE match_id = :m AND blocked_reason IS NULL GROUP BY category_id ORDER BY category_id
            """
        ),
        {"m": match_id},
    ).all()
    return {
        "match_id": match_id,
        "on_sale": row.on_sale,
        "blocked": row.blocked,
        "per_category": [{"category_id": c, "seats": n} for c, n in per_category],
    }


# --- lifecycle -------------------------------------------------------------------------------

_CREATE_INVENTORY = text(
    """
    INSERT INTO match_seats (match_id, seat_id, section_id, row_index, number,
                             category_id, price, status, blocked_reason)
    SELECT a.match_id, s.id, s.section_id, s.row_index, s.number,
           a.category_id, coalesce(c.price, 0),
           CASE WHEN a.blocked_reason IS NULL THEN 'available' ELSE 'blocked' END,
           a.blocked_reason
    FROM seat_assignments a
    JOIN seats s ON s.id = a.seat_id
    LEFT JOIN price_categories c ON c.id = a.category_id
    WHERE a.match_id = :match_id
    """
)


def publish(dbsession, match):
    """draft -> on_sale: create the whole inventory in one statement."""
    match = lock_match(dbsession, match.id)
    if match.status != "draft":
        raise Conflict(f"Only a draft match can be published (this one is {match.status}).")
    if match.starts_at <= utcnow():
        raise Conflict("A match that has already started cannot be published.")
    summary = seating_summary(dbsession, match.id)
    if summary["on_sale"] == 0:
        raise Conflict(
            "Nothing to sell: assign seats to price categories first (PUT .../seating).",
            errors=[field_error("seating", "no seat is on sale")],
        )
    dbsession.execute(_CREATE_INVENTORY, {"match_id": match.id})
    # The shard rows, with the inventory's tallies on shard 0 (from the plan just copied).
    dbsession.execute(
        text(
            "INSERT INTO match_seat_versions (match_id, shard, version, seats, blocked) "
            "SELECT :match_id, shard, 0, CASE shard WHEN 0 THEN :seats ELSE 0 END, "
            "CASE shard WHEN 0 THEN :blocked ELSE 0 END FROM generate_series(0, :shards - 1) AS shard"
        ),
        {"match_id": match.id, "shards": SEAT_VERSION_SHARDS,
         "seats": summary["on_sale"] + summary["blocked"], "blocked": summary["blocked"]},
    )
    match.status = "on_sale"
    match.published_at = utcnow()
    match.seat_version += 1
    dbsession.flush()
    return match


def close_sales(dbsession, match):
    match = lock_match(dbsession, match.id)
    if match.status != "on_sale":
        raise Conflict(f"Only a match on sale can be closed (this one is {match.status}).")
    match.status = "closed"
    match.seat_version += 1
    dbsession.flush()
    return match


def reopen_sales(dbsession, match, sales_close_at=None):
    """closed -> on_sale, while the match is still in the future.

    ``sales_close_at`` (optional) moves the end of sales: a match closed because its sales
    time ran out would otherwise reopen straight into a closed sales window.
    """
    match = lock_match(dbsession, match.id)
    if match.status != "closed":
        raise Conflict(f"Only a match whose sales are closed can be reopened (this one is {match.status}).")
    now = utcnow()
    if match.starts_at <= now:
        raise Conflict("A match that has already started cannot be reopened.")
    errors = []
    close_at = aware_datetime(sales_close_at, "sales_close_at", errors) if sales_close_at is not None \
        else match.sales_close_at
    if not errors:
        if close_at <= now:
            errors.append(field_error("sales_close_at", "must be in the future, or sales would stay closed"))
        elif close_at > match.starts_at:
            errors.append(field_error("sales_close_at", "must not be after kick-off"))
        elif close_at <= match.sales_open_at:
            errors.append(field_error("sales_close_at", "must be after sales open"))
    if errors:
        raise ValidationFailed("Sales cannot reopen like this.", errors=errors)
    match.sales_close_at = close_at
    match.status = "on_sale"
    match.seat_version += 1
    dbsession.flush()
    return match


_BUMP_SHARD = text(
    "UPDATE match_seat_versions SET version = version + 1 WHERE match_id = :match_id AND shard = :shard"
)

#: The match's tallies kept on the shard rows (models/match.py, decision 0038).
TALLIES = ("seats", "sold", "blocked", "paid_orders", "revenue", "cancelled_orders", "refunded")


def bump_seat_version(dbsession, match_id, spread_key, **tallies):
    """Part of every transaction that changes seat statuses: invalidates seat-map ETags.

    Call it last in the transaction (after the seat rows are locked) so the shard row lock is
    held only for the commit; ``spread_key`` (e.g. the buyer's id) picks the shard. The
    keyword arguments (names in ``TALLIES``) are what the transaction changed in the match's
    tallies, added to the same row in the same statement.
    """
    params = {"match_id": match_id, "shard": spread_key % SEAT_VERSION_SHARDS}
    moved = {name: int(delta) for name, delta in tallies.items() if delta}
    if not moved:
        dbsession.execute(_BUMP_SHARD, params)
        return
    unknown = set(moved) - set(TALLIES)
    if unknown:
        raise ValueError(f"not a tally: {sorted(unknown)}")
    assignments = "".join(f", {name} = {name} + :{name}" for name in sorted(moved))
    dbsession.execute(
        text(f"UPDATE match_seat_versions SET version = version + 1{assignments} "
             "WHERE match_id = :match_id AND shard = :shard"),
        {**params, **moved},
    )


def seating_plan(dbsession, match_id):
    """The draft plan seat by seat: ``(seat_id, category_id, blocked_reason)`` in seat order."""
    return dbsession.execute(
        select(SeatAssignment.seat_id, SeatAssignment.category_id, SeatAssignment.blocked_reason)
        .where(SeatAssignment.match_id == match_id)
        .order_by(SeatAssignment.seat_id)
    ).all()


# Rows are locked in seat-id order (the order every buyer locks in), then flipped by the same
# statement; a row a buyer holds or bought no longer matches and is left alone. A seat with no
# price category (blocked in the plan, never on sale) stays blocked: unblocking it would put
# a free seat on sale.
_SET_BLOCKED = text(
    """
    WITH target AS (
        SELECT seat_id FROM match_seats
        WHERE match_id = :match_id AND seat_id = ANY(:seat_ids) AND status = :from_status
          AND (:blocking OR category_id IS NOT NULL)
        ORDER BY seat_id
        FOR UPDATE
    )
    UPDATE match_seats ms SET status = :to_status, blocked_reason = :reason
      FROM target
     WHERE ms.match_id = :match_id AND ms.seat_id = target.seat_id AND ms.status = :from_status
    RETURNING ms.seat_id
    """
)


def set_blocked(dbsession, match, seat_ids, blocked, reason=None, actor_id=None):
    """Block (available -> blocked) or unblock (blocked -> available) seats of a match on sale.

    Held and sold seats are never touched; the seat ids actually changed are returned, so the
    caller can tell staff which ones were skipped. One conditional UPDATE does the flip, the
    seat-map version is bumped and the change is written to the audit log in the same
    transaction.
    """
    match = lock_match(dbsession, match.id)
    if match.status != "on_sale":
        raise Conflict(f"Seats can only be blocked or unblocked while the match is on sale (it is {match.status}).")
    if blocked and reason not in BLOCK_REASONS:
        raise ValidationFailed("The reason is not valid.",
                               errors=[field_error("reason", f"must be one of {', '.join(BLOCK_REASONS)}")])
    wanted = sorted({int(seat_id) for seat_id in seat_ids})
    if not wanted:
        raise ValidationFailed("No seats chosen.", errors=[field_error("seat_ids", "choose at least one seat")])
    changed = dbsession.execute(
        _SET_BLOCKED,
        {
            "match_id": match.id,
            "seat_ids": wanted,
            "from_status": "available" if blocked else "blocked",
            "to_status": "blocked" if blocked else "available",
            "blocking": bool(blocked),
            "reason": reason if blocked else None,
        },
    ).scalars().all()
    if changed:
        bump_seat_version(dbsession, match.id, actor_id or match.id,
                          blocked=len(changed) if blocked else -len(changed))
        audit.record(dbsession, actor_id, "match.block" if blocked else "match.unblock", "match", match.id,
                     seats=len(changed), seat_ids=sorted(changed)[:200], reason=reason if blocked else None)
    return sorted(changed)
