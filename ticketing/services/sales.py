"""Sales figures for the staff dashboard: totals, revenue per match and sales per day.

Read-only aggregates over ``orders``. Revenue counts orders that are still paid (a refunded
order is no revenue); refunds are reported separately. Days are calendar days in the
timezone the caller names (the staff's local time), so a sale at 23:30 local time is not
counted on the next day's bar.
"""
from sqlalchemy import func, select, text

from ticketing.models import Match

_TOTALS = text(
    """
    SELECT count(*) FILTER (WHERE status = 'paid') AS paid_orders,
           coalesce(sum(total) FILTER (WHERE status = 'paid'), 0)::bigint AS revenue,
           count(*) FILTER (WHERE status = 'cancelled') AS cancelled_orders,
           coalesce(sum(total) FILTER (WHERE status = 'cancelled'), 0)::bigint AS refunded,
           (SELECT count(*) FROM tickets WHERE status = 'valid') AS tickets
    FROM orders
    """
)

_BY_MATCH = text(
    """
    SELECT match_id, coalesce(sum(total), 0)::bigint AS revenue, count(*) AS orders
    FROM orders WHERE status = 'paid' AND match_id = ANY(:match_ids) GROUP BY match_id
    """
)

# One row per day, empty days included, so the chart's x axis is continuous. Sales count on
# the day the order was paid, refunds on the day the order was cancelled.
_DAILY = text(
    """
    WITH days AS (
        SELECT generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day')::date AS day
    ), sold AS (
        SELECT (created_at AT TIME ZONE :tz)::date AS day, count(*) AS orders, sum(total) AS revenue
        FROM orders
        WHERE status = 'paid' AND (CAST(:match_id AS bigint) IS NULL OR match_id = :match_id)
          AND (created_at AT TIME ZONE :tz)::date BETWEEN :first AND :last
        GROUP BY 1
    ), refunds AS (
        SELECT (cancelled_at AT TIME ZONE :tz)::date AS day, sum(total) AS refunded
        FROM orders
        WHERE status = 'cancelled' AND (CAST(:match_id AS bigint) IS NULL OR match_id = :match_id)
          AND (cancelled_at AT TIME ZONE :tz)::date BETWEEN :first AND :last
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
