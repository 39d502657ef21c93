"""users.session_generation: admin sessions that logout and role changes can end

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 22:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('session_generation', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    op.drop_column('users', 'session_generation')
