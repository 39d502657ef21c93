"""Stadium layouts, created in bulk.

A section is described compactly (``{name, rows: [{label, seats}]}``) and its seats are
inserted by one ``INSERT ... SELECT`` over ``generate_series``, so a 12,000-seat stadium is a
handful of statements.

Geometry (units of one seat pitch, origin top-left, y grows towards the pitch side away):
sections are laid out left to right in bands ``BAND_WIDTH`` wide, ``GAP`` apart; a section
is as wide as its longest row and as tall as its row count; each row is centred in its
section; seat *n* of row *r* (0-based order in the spec) sits at
``(origin_x + offset_r + n - 1, origin_y + r)``.
"""
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from ticketing.models import Seat, Section, Stadium
from ticketing.problems import Conflict, NotFound, ValidationFailed, field_error

MAX_SEATS_PER_STADIUM = 100_000
MAX_ROWS_PER_SECTION = 500
MAX_SEATS_PER_ROW = 1_000
BAND_WIDTH = 160
GAP = 4


def _clean(value):
    return (value or "").strip()


#: The longest value each stadium field stores (the columns' lengths): longer is a 422 here,
#: for every caller (the API's schema says the same; the admin's forms rely on this).
STADIUM_FIELD_LENGTHS = {"name": 200, "city": 120, "address": 300}


def _check_stadium_fields(values):
    errors = []
    for field, value in values.items():
        if not value and field != "address":
            errors.append(field_error(field, "must not be empty"))
        elif len(value) > STADIUM_FIELD_LENGTHS[field]:
            errors.append(field_error(field, f"at most {STADIUM_FIELD_LENGTHS[field]} characters"))
    if errors:
        raise ValidationFailed("Some fields are not valid.", errors=errors)


def create_stadium(dbsession, name, city, address=""):
    name, city, address = _clean(name), _clean(city), _clean(address)
    _check_stadium_fields({"name": name, "city": city, "address": address})
    _ensure_unique_name(dbsession, name)
    stadium = Stadium(name=name, city=city, address=address)
    insert_unique(dbsession, stadium, Conflict(
        "A stadium with this name already exists.",
        errors=[field_error("name", "is already used by another stadium", "duplicate")],
    ))
    return stadium


def insert_unique(dbsession, row, conflict, changes=None):
    """Write ``row`` (new, or with ``changes`` applied) in a savepoint; a unique violation (a
    concurrent twin won the race after our read-side check) becomes ``conflict`` instead of a
    500. The changes are applied inside the savepoint: set before it, they would be flushed
    when it begins, outside it, and a violation would then abort the whole transaction."""
    try:
        with dbsession.begin_nested():
            dbsession.add(row)
            for field, value in (changes or {}).items():
                setattr(row, field, value)
            dbsession.flush()
    except IntegrityError as exc:
        if getattr(exc.orig, "pgcode", None) == "23505":
            raise conflict from None
        raise


def _ensure_unique_name(dbsession, name, exclude_id=None):
    query = select(Stadium.id).where(func.lower(Stadium.name) == name.lower())
    if exclude_id is not None:
        query = query.where(Stadium.id != exclude_id)
    if dbsession.execute(query).first():
        raise Conflict(
            "A stadium with this name already exists.",
            errors=[field_error("name", "is already used by another stadium", "duplicate")],
        )


def update_stadium(dbsession, stadium, changes):
    changes = {field: _clean(changes[field]) for field in ("name", "city", "address") if field in changes}
    _check_stadium_fields(changes)
    if "name" in changes and changes["name"].lower() != stadium.name.lower():
        _ensure_unique_name(dbsession, changes["name"], exclude_id=stadium.id)
    insert_unique(dbsession, stadium, Conflict(
        "A stadium with this name already exists.",
        errors=[field_error("name", "is already used by another stadium", "duplicate")],
    ), changes)
    return stadium


def seat_count(dbsession, stadium_id):
    return dbsession.execute(
        select(func.coalesce(func.sum(Section.seat_count), 0)).where(Section.stadium_id == stadium_id)
    ).scalar_one()


def _validate_rows(name, rows):
    errors = []
    if not name:
        errors.append(field_error("name", "must not be empty"))
    if not rows:
        errors.append(field_error("rows", "must list at least one row"))
    if len(rows) > MAX_ROWS_PER_SECTION:
        errors.append(field_error("rows", f"at most {MAX_ROWS_PER_SECTION} rows per section"))
    seen = set()
    for index, row in enumerate(rows):
        label = _clean(str(row.get("label") or ""))
        seats = row.get("seats")
        if not label:
            errors.append(field_error(f"rows/{index}/label", "must not be empty"))
        elif label in seen:
            errors.append(field_error(f"rows/{index}/label", f"row {label!r} appears twice"))
        seen.add(label)
        if not isinstance(seats, int) or isinstance(seats, bool) or seats < 1:
            errors.append(field_error(f"rows/{index}/seats", "must be a positive number of seats"))
        elif seats > MAX_SEATS_PER_ROW:
            errors.append(field_error(f"rows/{index}/seats", f"at most {MAX_SEATS_PER_ROW} seats per row"))
    return errors


def _next_origin(dbsession, stadium_id, width):
    """Place a new section after the last one, wrapping to a new band when it would not fit."""
    last = dbsession.execute(
        select(Section).where(Section.stadium_id == stadium_id).order_by(Section.position.desc()).limit(1)
    ).scalar_one_or_none()
    if last is None:
        return 0, 0, 0
    band_top = last.origin_y
    band_height = dbsession.execute(
        select(func.max(Section.height)).where(Section.stadium_id == stadium_id, Section.origin_y == band_top)
    ).scalar_one()
    x = last.origin_x + last.width + GAP
    if x + width > BAND_WIDTH:
        return 0, band_top + band_height + GAP, last.position + 1
    return x, band_top, last.position + 1


_INSERT_SEATS = text(
    """
    INSERT INTO seats (stadium_id, section_id, row_label, row_index, number, x, y)
    SELECT :stadium_id, :section_id, r.label, r.ordinality - 1, n,
           :origin_x + (:width - r.seats) / 2 + n - 1,
           :origin_y + r.ordinality - 1
    FROM unnest(CAST(:labels AS text[]), CAST(:counts AS int[])) WITH ORDINALITY AS r(label, seats, ordinality)
    CROSS JOIN LATERAL generate_series(1, r.seats) AS n
    """
)


def add_section(dbsession, stadium, name, rows):
    """Create a section and all its seats; 422 on a bad spec, 409 on a duplicate name."""
    name = _clean(name)
    errors = _validate_rows(name, rows)
    if errors:
        raise ValidationFailed("The section is not valid.", errors=errors)
    # Lock the stadium row: concurrent section builders must not overshoot the seat cap or
    # pick the same drawing position.
    dbsession.execute(select(Stadium.id).where(Stadium.id == stadium.id).with_for_update())
    total = sum(row["seats"] for row in rows)
    existing = seat_count(dbsession, stadium.id)
    if existing + total > MAX_SEATS_PER_STADIUM:
        raise ValidationFailed(
            "The stadium would be too large.",
            errors=[field_error("rows", f"a stadium holds at most {MAX_SEATS_PER_STADIUM} seats "
                                        f"({existing} exist, {total} requested)")],
        )
    if dbsession.execute(
        select(Section.id).where(Section.stadium_id == stadium.id, func.lower(Section.name) == name.lower())
    ).first():
        raise Conflict(
            "This stadium already has a section with that name.",
            errors=[field_error("name", "is already used in this stadium", "duplicate")],
        )
    width = max(row["seats"] for row in rows)
    origin_x, origin_y, position = _next_origin(dbsession, stadium.id, width)
    section = Section(
        stadium_id=stadium.id, name=name, position=position, origin_x=origin_x, origin_y=origin_y,
        width=width, height=len(rows), seat_count=total,
    )
    insert_unique(dbsession, section, Conflict(
        "This stadium already has a section with that name.",
        errors=[field_error("name", "is already used in this stadium", "duplicate")],
    ))
    dbsession.execute(
        _INSERT_SEATS,
        {
            "stadium_id": stadium.id,
            "section_id": section.id,
            "origin_x": origin_x,
            "origin_y": origin_y,
            "width": width,
            "labels": [_clean(str(row["label"])) for row in rows],
            "counts": [row["seats"] for row in rows],
        },
    )
    return section


# "Is any seat of this section on sale for a match?" seat by seat, each a probe of
# ix_match_seats_seat_id that stops at the first row: a section's few hundred seats, however
# many matches the season has. Written as a LATERAL ... LIMIT 1 so the planner cannot turn it
# into a semi-join that reads all of match_seats (739 ms at 2M rows, issue 29).
_SECTION_ON_SALE = text(
    """
    SELECT EXISTS (
        SELECT 1 FROM seats s
        CROSS JOIN LATERAL (SELECT 1 FROM match_seats ms WHERE ms.seat_id = s.id LIMIT 1) AS sold
        WHERE s.section_id = :s
    )
    """
)


def delete_section(dbsession, stadium, section_id):
    """Remove a section that no published match sells; draft seating plans drop its seats."""
    section = dbsession.get(Section, section_id)
    if section is None or section.stadium_id != stadium.id:
        raise NotFound("No such section in this stadium.")
    used = dbsession.execute(_SECTION_ON_SALE, {"s": section.id}).scalar_one()
    if used:
        raise Conflict("This section is on sale for a published match and cannot be removed.")
    dbsession.execute(
        text("DELETE FROM seat_assignments WHERE seat_id IN (SELECT id FROM seats WHERE section_id = :s)"),
        {"s": section.id},
    )
    dbsession.execute(text("DELETE FROM seats WHERE section_id = :s"), {"s": section.id})
    # Draft seat maps of this stadium are drawn from seats and plans: move their ETags.
    dbsession.execute(
        text("UPDATE matches SET seat_version = seat_version + 1 WHERE stadium_id = :st AND status = 'draft'"),
        {"st": stadium.id},
    )
    dbsession.delete(section)
    dbsession.flush()


def layout(dbsession, stadium_id, section_id=None):
    """Every seat of the stadium in drawing order, as compact tuples."""
    query = (
        select(Seat.id, Seat.section_id, Seat.row_label, Seat.number, Seat.x, Seat.y)
        .where(Seat.stadium_id == stadium_id)
        .order_by(Seat.section_id, Seat.row_index, Seat.number)
    )
    if section_id is not None:
        query = query.where(Seat.section_id == section_id)
    return dbsession.execute(query).all()


def list_stadiums(dbsession, limit, offset, city=None, q=None):
    query = select(Stadium)
    if city:
        query = query.where(func.lower(Stadium.city) == city.strip().lower())
    if q:
        query = query.where(Stadium.name.ilike(f"%{escape_like(q.strip())}%", escape="\\"))
    total = dbsession.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = dbsession.execute(query.order_by(Stadium.name, Stadium.id).limit(limit).offset(offset)).scalars().all()
    return rows, total


def escape_like(value):
    """Make user text literal inside a LIKE pattern."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
