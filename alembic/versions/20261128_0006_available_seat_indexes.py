"""best available scans only free seats: partial indexes on status = 'available'

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 02:40:00

The claimable indexes covered held seats too (a lapsed hold's seats are claimable), so every
best-available scan walked past every seat held in front of the free ones: ~0.25 µs each,
1 ms per scan with 4,000 held (decision 0026). Holds now release a match's lapsed seats
before they scan, and the scans read only available seats.

Built CONCURRENTLY, outside a transaction: on a live box office a plain CREATE INDEX would
block every hold and sale on match_seats while it runs. The new indexes exist before the old
ones go, so the scans always have one.
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

AVAILABLE = sa.text("status = 'available'")
CLAIMABLE = sa.text("status IN ('available', 'held')")
INDEXES = (
    # (name now, columns, name before)
    ('ix_match_seats_available', ['match_id', 'category_id', 'section_id', 'row_index', 'number'],
     'ix_match_seats_claimable'),
    ('ix_match_seats_available_layout', ['match_id', 'section_id', 'row_index', 'number'],
     'ix_match_seats_claimable_layout'),
)


def upgrade():
    with op.get_context().autocommit_block():
        for name, columns, _ in INDEXES:
            op.create_index(name, 'match_seats', columns, postgresql_where=AVAILABLE,
                            postgresql_concurrently=True, if_not_exists=True)
        for _, _, before in INDEXES:
            op.drop_index(before, table_name='match_seats', postgresql_concurrently=True, if_exists=True)


def downgrade():
    with op.get_context().autocommit_block():
        for name, columns, before in INDEXES:
            op.create_index(before, 'match_seats', columns, postgresql_where=CLAIMABLE,
                            postgresql_concurrently=True, if_not_exists=True)
        for name, _, _ in INDEXES:
            op.drop_index(name, table_name='match_seats', postgresql_concurrently=True, if_exists=True)
