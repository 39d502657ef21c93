"""Sales figures for the staff dashboard: totals, revenue per match and sales per day.

Read-only aggregates: totals from the matches' tallies (decision 0038), days from the
orders paid and the refunds made on the chart's days only (read through the indexes on
``orders.created_at`` and on the ledger's refund rows by ``created_at``: the range is written
on the bare column, so the index applies). Revenue counts what fans paid for tickets still
valid (a refunded ticket is no revenue); a day's sales are the orders paid that day that are
still paid, its refunds every refund made that day, whole orders or single tickets. Days are calendar days in the
timezone the caller names (the staff's local time), so a sale at 23:30 local time is not
counted on the next day's bar.
"""
from sqlalchemy import func, select, text

from ticketing.models import Match

# The totals are the matches' tallies added up (decision 0038): a few rows per match, never
# a scan of every order and ticket. Valid tickets are sold seats (invariant: a sold seat has
# exactly its valid ticket).
_TOTALS = text(
    """
    SELECT coalesce(sum(paid_orders), 0)::bigint AS paid_orders,
           coalesce(sum(revenue), 0)::bigint AS revenue,
           coalesce(sum(cancelled_orders), 0)::bigint AS cancelled_orders,
           coalesce(sum(refunded), 0)::bigint AS refunded,
           coalesce(sum(sold), 0)::bigint AS tickets
    FROM match_seat_versions
    """
)

_BY_MATCH = text(
    """
    SELECT match_id, sum(revenue)::bigint AS revenue, sum(paid_orders)::bigint AS orders
    FROM match_seat_versions WHERE match_id = ANY(:match_ids) GROUP BY match_id
    """
)

# One row per day, empty days included, so the chart's x axis is continuous. Sales count on
# the day the order was paid, refunds on the day the order was cancelled. The local days'
# bounds are turned into instants once, so the indexed column is compared as it is.
_DAILY = text(
    """
    WITH days AS (
        SELECT generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day')::date AS day
    ), sold AS (
        SELECT (created_at AT TIME ZONE :tz)::date AS day, count(*) AS orders, sum(total) AS revenue
        FROM orders
        WHERE status = 'paid' AND (CAST(:match_id AS bigint) IS NULL OR match_id = :match_id)
          AND created_at >= CAST(:first AS date)::timestamp AT TIME ZONE :tz
          AND created_at < (CAST(:last AS date) + 1)::timestamp AT TIME ZONE :tz
        GROUP BY 1
    ), refunds AS (
        -- From the ledger's refund rows (a partial index by time): a ticket cancelled on its
        -- own is refunded on its day, and a whole cancellation after it refunds the rest.
        SELECT (l.created_at AT TIME ZONE :tz)::date AS day, sum(l.amount) AS refunded
        FROM wallet_ledger l
        WHERE l.kind = 'refund'
          AND (CAST(:match_id AS bigint) IS NULL
               OR EXISTS (SELECT 1 FROM orders o WHERE o.id = l.order_id AND o.match_id = :match_id))
          AND l.created_at >= CAST(:first AS date)::timestamp AT TIME ZONE :tz
          AND l.created_at < (CAST(:last AS date) + 1)::timestamp AT TIME ZONE :tz
        GROUP BY 1
    )
    SELECT days.day, coalesce(sold.orders, 0) AS orders,
           coalesce(sold.revenue, 0)::bigint AS revenue, coalesce(refunds.refunded, 0)::bigint AS refunded
    FROM days LEFT JOIN sold USING (day) LEFT JOIN refunds USING (day)
    ORDER BY days.day
    """
)


def totals(dbsession):
    return dict(dbsession.execute(_TOTALS).mappings().one())


def revenue_by_match(dbsession, match_ids):
    """{match_id: {"revenue": minor units, "orders": paid orders}} for a page of matches."""
    result = {match_id: {"revenue": 0, "orders": 0} for match_id in match_ids}
    if match_ids:
        for row in dbsession.execute(_BY_MATCH, {"match_ids": list(match_ids)}):
            result[row.match_id] = {"revenue": row.revenue, "orders": row.orders}
    return result


def daily_sales(dbsession, first_day, last_day, tz="UTC", match_id=None):
    """Paid orders and revenue (by day paid) and refunds (by day refunded), per local day."""
    rows = dbsession.execute(
        _DAILY, {"first": first_day, "last": last_day, "tz": tz, "match_id": match_id}
    ).mappings().all()
    return [dict(row) for row in rows]


def upcoming_matches(dbsession, now, limit):
    """(the next ``limit`` matches fans can see, how many there are, how many drafts wait).

    Upcoming counts matches on sale or with sales closed that have not started; drafts are
    not public yet and cancelled matches will not be played, so neither is counted.
    """
    later = select(Match).where(Match.starts_at >= now)
    visible = later.where(Match.status.in_(("on_sale", "closed")))
    rows = dbsession.execute(visible.order_by(Match.starts_at, Match.id).limit(limit)).scalars().all()
    counts = dict(dbsession.execute(
        select(Match.status, func.count()).where(Match.starts_at >= now).group_by(Match.status)
    ).all())
    return rows, counts.get("on_sale", 0) + counts.get("closed", 0), counts.get("draft", 0)
