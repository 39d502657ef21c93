"""a match's revenue tally is what its valid tickets cost

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 11:40:00

The tallies of migration 0009 counted money by orders: revenue the totals of paid orders,
refunded those of cancelled ones. Since a fan can cancel one ticket of an order (decision
0058), an order still paid may have been refunded in part: its refund showed nowhere in the
tallies and its whole total stayed revenue. Revenue is now what the match's valid tickets
cost and refunded what its voided tickets were refunded (each voided ticket is refunded
once); the services move a ticket's price from one to the other whenever they void it.

Recomputed here once onto shard 0, as 0009 filled them, under SHARE locks on ``orders``
and ``tickets`` taken in a checkout's order: checkouts and cancellations that already wrote
finish first (their bump of ``match_seat_versions`` comes last), new ones wait for these
short statements, so no delta is counted twice or lost. Downgrade puts the order-based figures back.

The dashboard's chart shows each day's refunds from the ledger's refund rows (a ticket
refunded on its own included), through a new partial index on their time.
"""
from alembic import op
import sqlalchemy as sa

# The dashboard's daily refunds now come from the ledger's refund rows, a month at a time.
REFUNDS_BY_TIME = 'ix_wallet_ledger_refunds_created_at'


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def _recompute(by_tickets):
    # In the order a checkout takes them (orders, then tickets, then its shard), as 0009 does.
    op.execute("LOCK TABLE orders, tickets IN SHARE MODE")
    op.execute("UPDATE match_seat_versions SET revenue = 0, refunded = 0")
    money = (
        "SELECT match_id, coalesce(sum(price) FILTER (WHERE status = 'valid'), 0) AS revenue, "
        "coalesce(sum(price) FILTER (WHERE status = 'void'), 0) AS refunded FROM tickets GROUP BY match_id"
        if by_tickets else
        "SELECT match_id, coalesce(sum(total) FILTER (WHERE status = 'paid'), 0) AS revenue, "
        "coalesce(sum(total) FILTER (WHERE status = 'cancelled'), 0) AS refunded FROM orders GROUP BY match_id"
    )
    op.execute(f"""
        UPDATE match_seat_versions v SET revenue = m.revenue, refunded = m.refunded
          FROM ({money}) m
         WHERE v.match_id = m.match_id AND v.shard = 0
    """)


def upgrade():
    _recompute(by_tickets=True)
    with op.get_context().autocommit_block():  # built without blocking refunds or payments
        op.create_index(REFUNDS_BY_TIME, 'wallet_ledger', ['created_at'], postgresql_concurrently=True,
                        if_not_exists=True, postgresql_where=sa.text("kind = 'refund'"),
                        postgresql_include=['amount', 'order_id'])


def downgrade():
    with op.get_context().autocommit_block():
        op.drop_index(REFUNDS_BY_TIME, table_name='wallet_ledger', postgresql_concurrently=True, if_exists=True)
    _recompute(by_tickets=False)
