"""The seat map, its ETag, the per-match summary and the staff report.

The seat map is what thousands of fans poll during a rush, so it is served cheaply:
- the ETag is computed by one tiny query (match state, the sum of the sharded seat-version
  counters, and how many holds have lapsed since), so a ``304`` costs no seat rows;
- a public map is cacheable for a second by a shared cache (nginx in front, deploy/): the
  view says so with ``Cache-Control``, and a rush's polls are answered there;
- the body is compact: one array per seat, with sections and categories listed once;
- the seat arrays (the bulk of the body) are written as JSON text by PostgreSQL, so a
  re-render after a change costs the app no per-seat Python work: during a rush the map
  changes with every purchase, and the GIL-bound app process is the scarcer CPU.

A seat whose hold has expired is reported as available, computed in the query from
``held_until`` (no sweeper is needed for the map to be right).
"""
import hashlib
import json

from sqlalchemy import text

SEAT_COLUMNS = ["id", "section_id", "row", "number", "x", "y", "category_id", "price", "status"]

_ETAG_QUERY = text(
    """
    SELECT m.status, m.seat_version, m.created_at,
           (SELECT coalesce(sum(v.version), 0)::bigint FROM match_seat_versions v WHERE v.match_id = m.id) AS changes,
           (SELECT count(*) FROM match_seats ms
             WHERE ms.match_id = m.id AND ms.status = 'held' AND ms.held_until <= now()) AS lapsed
    FROM matches m WHERE m.id = :match_id
    """
)

_PUBLISHED_SEATS = """
    SELECT ms.seat_id, ms.section_id, s.row_label, ms.number, s.x, s.y, ms.category_id, ms.price,
           CASE WHEN ms.status = 'held' AND ms.held_until <= now() THEN 'available' ELSE ms.status END AS status,
           s.row_index
    FROM match_seats ms JOIN seats s ON s.id = ms.seat_id
    WHERE ms.match_id = :match_id {filters}
"""

_DRAFT_SEATS = """
    SELECT s.id, s.section_id, s.row_label, s.number, s.x, s.y, a.category_id, coalesce(c.price, 0),
           CASE WHEN a.blocked_reason IS NULL THEN 'available' ELSE 'blocked' END AS status,
           s.row_index
    FROM seat_assignments a JOIN seats s ON s.id = a.seat_id
    LEFT JOIN price_categories c ON c.id = a.category_id
    WHERE a.match_id = :match_id {filters}
"""

# The seats as one compact JSON array of arrays (columns as SEAT_COLUMNS), in layout order,
# and the counts per status, from either query above.
_SEATS_JSON = """
    SELECT coalesce('[' || string_agg(
               '[' || id || ',' || section_id || ',' || to_json(row_label) || ',' || number || ',' || x || ','
               || y || ',' || coalesce(category_id::text, 'null') || ',' || price || ',' || to_json(status) || ']',
               ',' ORDER BY section_id, row_index, number) || ']', '[]') AS seats,
           count(*) FILTER (WHERE status = 'available') AS available,
           count(*) FILTER (WHERE status = 'held') AS held,
           count(*) FILTER (WHERE status = 'sold') AS sold,
           count(*) FILTER (WHERE status = 'blocked') AS blocked
    FROM ({seats}) AS seat (id, section_id, row_label, number, x, y, category_id, price, status, row_index)
"""


def version(dbsession, match_id, filters):
    """The map's ETag and the match status it was computed from, read in one statement.

    The body must be rendered from this status, not from an earlier read of the match, such as
    traversal's. Otherwise a close, cancellation or publish that commits between the two reads
    would cache a body showing the old status under the new ETag. That body would then be
    served, and answered 304, until the next seat change."""
    row = dbsession.execute(_ETAG_QUERY, {"match_id": match_id}).one()
    filter_key = json.dumps(filters, sort_keys=True)
    digest = hashlib.sha1(
        f"{match_id}|{row.created_at.timestamp()}|{row.status}|{row.seat_version}|{row.changes}|"
        f"{row.lapsed}|{filter_key}".encode()
    ).hexdigest()[:20]
    return f'W/"sm-{match_id}-{digest}"', row.status


def _filter_sql(filters, draft):
    clauses, params = [], {}
    status_expr = (
        "CASE WHEN a.blocked_reason IS NULL THEN 'available' ELSE 'blocked' END"
        if draft
        else "CASE WHEN ms.status = 'held' AND ms.held_until <= now() THEN 'available' ELSE ms.status END"
    )
    prefix = "s" if draft else "ms"
    if filters.get("section_id") is not None:
        clauses.append(f"{prefix}.section_id = :section_id")
        params["section_id"] = filters["section_id"]
    if filters.get("category_id") is not None:
        clauses.append(("a" if draft else "ms") + ".category_id = :category_id")
        params["category_id"] = filters["category_id"]
    if filters.get("status"):
        clauses.append(f"{status_expr} = :status")
        params["status"] = filters["status"]
    return "".join(f" AND {clause}" for clause in clauses), params


def statuses(dbsession, match_id):
    """{seat_id: (category_id, status)} of a published match, by the map's own query (a lapsed
    hold shows as available), without building and parsing the JSON body (the admin pages)."""
    rows = dbsession.execute(text(_PUBLISHED_SEATS.format(filters="")), {"match_id": match_id})
    return {row[0]: (row[6], row[8]) for row in rows}


def render(dbsession, match, filters, current_etag, status):
    """The seat map body as JSON bytes. ``current_etag`` and ``status``: what :func:`version`
    returned."""
    draft = status == "draft"
    filter_sql, params = _filter_sql(filters, draft)
    seats_sql = (_DRAFT_SEATS if draft else _PUBLISHED_SEATS).format(filters=filter_sql)
    seats = dbsession.execute(text(_SEATS_JSON.format(seats=seats_sql)), {"match_id": match.id, **params}).one()
    counts = {"available": seats.available, "held": seats.held, "sold": seats.sold, "blocked": seats.blocked}
    counts["total"] = sum(counts.values())  # the seats listed, as SeatCounts elsewhere
    sections = dbsession.execute(
        text("SELECT id, name FROM sections WHERE stadium_id = :s ORDER BY position"), {"s": match.stadium_id}
    ).all()
    categories = dbsession.execute(
        text("SELECT id, name, price, currency FROM price_categories WHERE match_id = :m ORDER BY id"),
        {"m": match.id},
    ).all()
    body = {
        "match_id": match.id,
        "status": status,
        "etag": current_etag,
        "sections": [{"id": s.id, "name": s.name} for s in sections],
        "categories": [
            {"id": c.id, "match_id": match.id, "name": c.name, "price": c.price, "currency": c.currency}
            for c in categories
        ],
        "columns": SEAT_COLUMNS,
    }
    # The seat arrays are already JSON (from PostgreSQL): spliced in after "columns".
    envelope = json.dumps(body, separators=(",", ":"))
    return (
        f'{envelope[:-1]},"seats":{seats.seats},"counts":{json.dumps(counts, separators=(",", ":"))}}}'
    ).encode("utf-8")


# The tallies kept as data on the shard rows (decision 0038): 16 small rows per match,
# whatever the stadium's size or the season's. Only live holds are counted, from the partial
# index on held rows, reading just the seats held right now (held_until still ahead); a
# lapsed hold counts as available, as on the seat map.
_SUMMARY = text(
    """
    SELECT v.match_id, sum(v.seats)::bigint AS total, sum(v.sold)::bigint AS sold,
           sum(v.blocked)::bigint AS blocked,
           (SELECT count(*) FROM match_seats ms
             WHERE ms.match_id = v.match_id AND ms.status = 'held' AND ms.held_until > now()) AS held
    FROM match_seat_versions v WHERE v.match_id = ANY(:match_ids) GROUP BY v.match_id
    """
)


def summaries(dbsession, match_ids):
    """Seat counts by status for several matches at once (list views)."""
    empty = {"available": 0, "held": 0, "sold": 0, "blocked": 0, "total": 0}
    result = {match_id: dict(empty) for match_id in match_ids}
    if match_ids:
        for row in dbsession.execute(_SUMMARY, {"match_ids": list(match_ids)}):
            result[row.match_id] = {
                "available": row.total - row.sold - row.blocked - row.held, "held": row.held,
                "sold": row.sold, "blocked": row.blocked, "total": row.total,
            }
    return result


_REPORT_GROUPS = """
    SELECT {key} AS key, {label} AS label,
           count(*) FILTER (WHERE ms.status = 'available' OR (ms.status = 'held' AND ms.held_until <= now())) AS available,
           count(*) FILTER (WHERE ms.status = 'held' AND ms.held_until > now()) AS held,
           count(*) FILTER (WHERE ms.status = 'sold') AS sold,
           count(*) FILTER (WHERE ms.status = 'blocked') AS blocked,
           count(*) AS total,
           coalesce(sum(ms.price) FILTER (WHERE ms.status = 'sold'), 0)::bigint AS revenue
    FROM match_seats ms
    {join}
    WHERE ms.match_id = :match_id
    GROUP BY 1, 2 ORDER BY 1
"""


def report(dbsession, match, currency):
    """Counts per status and revenue, overall, per category and per section (staff)."""
    def rows(key, label, join):
        sql = _REPORT_GROUPS.format(key=key, label=label, join=join)
        return [
            {
                "id": row.key, "name": row.label,
                "available": row.available, "held": row.held, "sold": row.sold,
                "blocked": row.blocked, "total": row.total, "revenue": row.revenue,
            }
            for row in dbsession.execute(text(sql), {"match_id": match.id})
        ]

    per_category = rows("ms.category_id", "c.name", "LEFT JOIN price_categories c ON c.id = ms.category_id")
    per_section = rows("ms.section_id", "sec.name", "JOIN sections sec ON sec.id = ms.section_id")
    totals = {key: sum(group[key] for group in per_section) for key in
              ("available", "held", "sold", "blocked", "total", "revenue")}
    checked_in = dbsession.execute(
        text("SELECT count(*) FROM tickets WHERE match_id = :m AND status = 'valid' AND checked_in_at IS NOT NULL"),
        {"m": match.id},
    ).scalar_one()
    orders = dbsession.execute(
        text("SELECT count(*) FILTER (WHERE status = 'paid'), count(*) FILTER (WHERE status = 'cancelled') "
             "FROM orders WHERE match_id = :m"),
        {"m": match.id},
    ).one()
    return {
        "match_id": match.id,
        "status": match.status,
        "currency": currency,
        "totals": totals,
        "per_category": per_category,
        "per_section": per_section,
        "orders": {"paid": orders[0], "cancelled": orders[1]},
        "check_in": {"admitted": checked_in, "sold": totals["sold"]},
    }
