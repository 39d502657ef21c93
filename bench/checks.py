"""After every scenario: the product's invariants in SQL, or the run fails loudly.

The invariant queries are the test suite's own (``tests/invariants.py``), so the benchmark
and the race tests can never disagree on what "correct" means. On top of them:
- every 2xx checkout the client saw is a stored, paid order of that fan with its tickets
  (invariant 7: a 2xx means committed);
- the match's seat counts add up to the 5,000 seats on sale (invariant 5).
"""
import psycopg2

from tests.invariants import CHECKS


class InvariantBroken(AssertionError):
    pass


def check(database_url, match_id, seen_orders, seats_on_sale):
    """Return a summary of the match; raise :class:`InvariantBroken` listing every violation."""
    broken = {}
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            for name, query in CHECKS.items():
                cur.execute(query)
                rows = cur.fetchmany(10)
                if rows:
                    broken[name] = rows
            if seen_orders:
                cur.execute(
                    """
                    SELECT seen.order_id FROM unnest(%(ids)s::bigint[], %(users)s::bigint[], %(seats)s::int[])
                           AS seen(order_id, user_id, seats)
                    LEFT JOIN orders o ON o.id = seen.order_id AND o.user_id = seen.user_id AND o.status = 'paid'
                    LEFT JOIN LATERAL (SELECT count(*) AS n FROM tickets t
                                       WHERE t.order_id = o.id AND t.status = 'valid') t ON true
                    WHERE o.id IS NULL OR t.n <> seen.seats
                    """,
                    {"ids": [o for o, _, _ in seen_orders], "users": [u for _, u, _ in seen_orders],
                     "seats": [n for _, _, n in seen_orders]},
                )
                rows = cur.fetchmany(10)
                if rows:
                    broken["every 2xx checkout the client saw is a stored paid order with its tickets"] = rows
            cur.execute(
                """
                SELECT count(*) FILTER (WHERE status = 'available' OR (status = 'held' AND held_until <= now())),
                       count(*) FILTER (WHERE status = 'held' AND held_until > now()),
                       count(*) FILTER (WHERE status = 'sold'),
                       count(*) FILTER (WHERE status = 'blocked'),
                       count(*)
                FROM match_seats WHERE match_id = %s
                """,
                (match_id,),
            )
            available, held, sold, blocked, total = cur.fetchone()
            if available + held + sold + blocked != seats_on_sale or total != seats_on_sale:
                broken["available + held + sold + blocked = seats on sale"] = [(available, held, sold, blocked, total)]
            cur.execute("SELECT count(*) FROM tickets WHERE match_id = %s AND status = 'valid'", (match_id,))
            tickets = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM orders WHERE match_id = %s AND status = 'paid'", (match_id,))
            orders = cur.fetchone()[0]
    finally:
        conn.close()
    summary = {
        "available": available, "held": held, "sold": sold, "blocked": blocked,
        "valid_tickets": tickets, "paid_orders": orders, "orders_seen_by_client": len(seen_orders),
        "invariants": "all hold" if not broken else "BROKEN",
    }
    if broken:
        raise InvariantBroken(f"invariants broken after the scenario on match {match_id}: {broken} ({summary})")
    return summary


def queue_fairness(database_url, match_id):
    """Who the waiting room called, against the order fans joined in.

    ``inversions``: fans who joined after the opening and were called before a fan who joined
    after the opening ahead of them (by key; 0 means strictly first come, first served), counted
    as places called earlier than the latest call of any place before them, plus places left
    uncalled ahead of a called one."""
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                """
                WITH ordered AS (
                    SELECT order_key, called_at,
                           max(called_at) OVER (ORDER BY order_key ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                               AS latest_before
                    FROM queue_places WHERE match_id = %(m)s AND order_key >= 1
                )
                SELECT count(*) FILTER (WHERE called_at < latest_before) AS called_out_of_order,
                       count(*) FILTER (WHERE called_at IS NULL AND order_key < (
                           SELECT max(order_key) FROM ordered WHERE called_at IS NOT NULL)) AS skipped,
                       count(*) AS after_opening,
                       (SELECT count(*) FROM queue_places WHERE match_id = %(m)s AND order_key < 1) AS before_opening,
                       (SELECT count(*) FROM queue_places WHERE match_id = %(m)s AND called_at IS NOT NULL) AS called
                FROM ordered
                """, {"m": match_id})
            out_of_order, skipped, after, before, called = cur.fetchone()
    finally:
        conn.close()
    return {"inversions": out_of_order + skipped, "joined_before_opening": before, "joined_after_opening": after,
            "called": called}
