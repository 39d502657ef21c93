"""indexes that start with seat_id: deleting seats no longer scans whole tables

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 04:30:00

match_seats, seat_assignments and tickets refer to seats.id, and none of them had an index
that starts with seat_id: every seat deleted made PostgreSQL check each of those tables
from end to end (the foreign keys), and the "is this section sold for a match" question
scanned all of match_seats. With 20 matches of a 12,000-seat stadium, deleting an unused
section took seconds and timed out as the season grew.

Built CONCURRENTLY, outside a transaction, so the sale goes on while they are built; a
failed concurrent build leaves an INVALID index behind, which is dropped and built again.
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

INDEXES = (
    ('ix_match_seats_seat_id', 'match_seats'),
    ('ix_seat_assignments_seat_id', 'seat_assignments'),
    ('ix_tickets_seat_id', 'tickets'),
)


def _invalid(name):
    return op.get_bind().execute(sa.text(
        "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace"
    ), {"name": name}).scalar()


def upgrade():
    offline = op.get_context().as_sql  # `alembic upgrade --sql`: no database to ask
    with op.get_context().autocommit_block():
        for name, table in INDEXES:
            if not offline and _invalid(name):
                op.drop_index(name, table_name=table, postgresql_concurrently=True)
            op.create_index(name, table, ['seat_id'], postgresql_concurrently=True, if_not_exists=True)


def downgrade():
    with op.get_context().autocommit_block():
        for name, table in INDEXES:
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
