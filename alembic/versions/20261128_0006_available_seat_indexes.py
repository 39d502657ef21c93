"""best available scans only free seats: partial indexes on status = 'available'

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 02:40:00

The claimable indexes covered held seats too (a lapsed hold's seats are claimable), so every
best-available scan walked past every seat held in front of the free ones: ~0.25 µs each,
1 ms per scan with 4,000 held (decision 0026). Holds now release a match's lapsed seats
before they scan, and the scans read only available seats.

Built CONCURRENTLY, outside a transaction: on a live box office a plain CREATE INDEX would
block every hold and sale on match_seats while it runs. A concurrent build that failed
(cancelled, timed out) leaves an INVALID index behind, which IF NOT EXISTS would take for
done: such a leftover is dropped and built again, and the old indexes go only once the new
ones are valid, so the scans always have one.

Deploy the code first, then run this migration: the new code's scans (status = 'available')
can use the old indexes, while the old code's (available or lapsed) cannot use the new ones.
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


def _valid(name):
    """True if the index exists and is valid, False if it exists invalid, None if it does not."""
    return op.get_bind().execute(sa.text(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace"
    ), {"name": name}).scalar()


def _replace(build, where, drop):
    """Build the indexes ``build`` (concurrently, redoing a failed build), then drop ``drop``."""
    offline = op.get_context().as_sql  # `alembic upgrade --sql`: no database to ask
    with op.get_context().autocommit_block():
        for name, columns in build:
            if not offline and _valid(name) is False:
                op.drop_index(name, table_name='match_seats', postgresql_concurrently=True)
            op.create_index(name, 'match_seats', columns, postgresql_where=where,
                            postgresql_concurrently=True, if_not_exists=True)
            if not offline and not _valid(name):
                raise RuntimeError(f"index {name} was not built; the old indexes are kept")
        for name in drop:
            op.drop_index(name, table_name='match_seats', postgresql_concurrently=True, if_exists=True)


def upgrade():
    _replace([(name, columns) for name, columns, _ in INDEXES], AVAILABLE, [before for _, _, before in INDEXES])


def downgrade():
    _replace([(before, columns) for _, columns, before in INDEXES], CLAIMABLE, [name for name, _, _ in INDEXES])
