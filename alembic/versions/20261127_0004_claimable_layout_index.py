"""claimable seats in layout order, for best available without a category

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 13:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        'ix_match_seats_claimable_layout', 'match_seats', ['match_id', 'section_id', 'row_index', 'number'],
        unique=False, postgresql_where=sa.text("status IN ('available', 'held')"),
    )


def downgrade():
    op.drop_index('ix_match_seats_claimable_layout', table_name='match_seats',
                  postgresql_where=sa.text("status IN ('available', 'held')"))
