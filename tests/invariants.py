"""The product's invariants, checked in SQL after every race (PRODUCT.md, 'Invariants')."""
from sqlalchemy import text

CHECKS = {
    "a seat of a match is in at most one valid ticket": """
        SELECT match_id, seat_id FROM tickets WHERE status = 'valid'
        GROUP BY match_id, seat_id HAVING count(*) > 1
    """,
    "every sold seat has exactly its valid ticket, and every valid ticket a sold seat": """
        SELECT ms.match_id, ms.seat_id FROM match_seats ms
        LEFT JOIN tickets t ON t.match_id = ms.match_id AND t.seat_id = ms.seat_id AND t.status = 'valid'
        WHERE (ms.status = 'sold') <> (t.id IS NOT NULL)
    """,
    "a held seat belongs to exactly one active hold (or one whose expiry has passed)": """
        SELECT ms.match_id, ms.seat_id FROM match_seats ms
        LEFT JOIN holds h ON h.id = ms.hold_id
        WHERE ms.status = 'held' AND (h.id IS NULL OR h.match_id <> ms.match_id
              OR (h.status <> 'active' AND h.status <> 'expired')
              OR NOT (ms.seat_id = ANY(h.seat_ids)))
    """,
    "every wallet balance equals its ledger (top-ups - payments + refunds - reversals - withdrawals)": """
        SELECT w.user_id FROM wallets w
        LEFT JOIN (SELECT user_id, sum(CASE WHEN kind IN ('payment', 'reversal', 'withdrawal') THEN -amount ELSE amount END) AS total
                   FROM wallet_ledger GROUP BY user_id) l ON l.user_id = w.user_id
        WHERE w.balance <> coalesce(l.total, 0) OR w.balance < 0
    """,
    "every order was paid for once, and each voided ticket refunded once (to the payer)": """
        SELECT o.id FROM orders o
        LEFT JOIN (SELECT order_id, sum(amount) FILTER (WHERE kind = 'payment') AS paid,
                          sum(amount) FILTER (WHERE kind = 'refund') AS refunded,
                          bool_and(user_id = (SELECT user_id FROM orders WHERE id = order_id)) AS to_payer
                   FROM wallet_ledger WHERE order_id IS NOT NULL GROUP BY order_id) l ON l.order_id = o.id
        WHERE coalesce(l.paid, 0) <> o.total OR NOT coalesce(l.to_payer, true)
           OR coalesce(l.refunded, 0) <> (SELECT coalesce(sum(price), 0) FROM tickets
                                          WHERE order_id = o.id AND status = 'void')
    """,
    "a cancelled order has no valid ticket, a paid one at least one": """
        SELECT o.id FROM orders o
        WHERE (o.status = 'cancelled') = EXISTS (SELECT 1 FROM tickets t WHERE t.order_id = o.id AND t.status = 'valid')
    """,
    "no ticket was given away after it was used at the gate": """
        SELECT tt.ticket_id FROM ticket_transfers tt JOIN tickets t ON t.id = tt.ticket_id
        WHERE t.checked_in_at IS NOT NULL AND t.checked_in_at <= tt.created_at
    """,
    "an order's total is the sum of its tickets": """
        SELECT o.id FROM orders o JOIN tickets t ON t.order_id = o.id
        GROUP BY o.id, o.total HAVING sum(t.price) <> o.total
    """,
    "available + held + sold + blocked = seats on sale (the published plan)": """
        SELECT m.id FROM matches m
        WHERE m.status <> 'draft' AND (SELECT count(*) FROM match_seats ms WHERE ms.match_id = m.id)
              <> (SELECT count(*) FROM seat_assignments a WHERE a.match_id = m.id)
    """,
    "a match's tallies (seats, sold, blocked, orders, money) equal its rows (decision 0038)": """
        SELECT v.match_id FROM (
            SELECT match_id, sum(seats) AS seats, sum(sold) AS sold, sum(blocked) AS blocked,
                   sum(paid_orders) AS paid_orders, sum(revenue) AS revenue,
                   sum(cancelled_orders) AS cancelled_orders, sum(refunded) AS refunded
            FROM match_seat_versions GROUP BY match_id) v
        LEFT JOIN (SELECT match_id, count(*) AS seats, count(*) FILTER (WHERE status = 'sold') AS sold,
                          count(*) FILTER (WHERE status = 'blocked') AS blocked
                   FROM match_seats GROUP BY match_id) s ON s.match_id = v.match_id
        LEFT JOIN (SELECT match_id, count(*) FILTER (WHERE status = 'paid') AS paid_orders,
                          count(*) FILTER (WHERE status = 'cancelled') AS cancelled_orders
                   FROM orders GROUP BY match_id) o ON o.match_id = v.match_id
        -- money: what the valid tickets cost, and what the voided ones were refunded (each
        -- voided ticket is refunded once, by the invariant above), whole orders or one by one
        LEFT JOIN (SELECT match_id, coalesce(sum(price) FILTER (WHERE status = 'valid'), 0) AS revenue,
                          coalesce(sum(price) FILTER (WHERE status = 'void'), 0) AS refunded
                   FROM tickets GROUP BY match_id) t ON t.match_id = v.match_id
        WHERE (v.seats, v.sold, v.blocked, v.paid_orders, v.revenue, v.cancelled_orders, v.refunded)
              IS DISTINCT FROM (coalesce(s.seats, 0), coalesce(s.sold, 0), coalesce(s.blocked, 0),
                                coalesce(o.paid_orders, 0), coalesce(t.revenue, 0),
                                coalesce(o.cancelled_orders, 0), coalesce(t.refunded, 0))
    """,
    "at most one active hold per fan and match": """
        SELECT user_id, match_id FROM holds WHERE status = 'active'
        GROUP BY user_id, match_id HAVING count(*) > 1
    """,
}


def violations(engine):
    """Return {invariant: offending rows} for every broken invariant (empty when all hold)."""
    broken = {}
    with engine.connect() as conn:
        for name, sql in CHECKS.items():
            rows = conn.execute(text(sql)).all()
            if rows:
                broken[name] = rows[:10]
    return broken


def assert_invariants(engine):
    broken = violations(engine)
    assert not broken, f"invariants broken: {broken}"
