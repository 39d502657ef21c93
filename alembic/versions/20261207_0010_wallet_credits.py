"""wallet credits with approval and reversal, staff daily credit totals, 'reversal' ledger kind

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 07:40:00

Two new tables, and the ledger's kind check widened to admit ``reversal`` (a counter-entry
that takes back a staff credit). The check is replaced with NOT VALID + VALIDATE, so the
ledger is not locked against writes while the existing rows are checked.
Downgrading refuses while reversal rows exist: they have no older kind to become, and the
ledger is never edited.
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def _kind_check(kinds):
    op.execute("ALTER TABLE wallet_ledger DROP CONSTRAINT ck_wallet_ledger_kind_known")
    listed = ", ".join(f"'{kind}'" for kind in kinds)
    op.execute(f"ALTER TABLE wallet_ledger ADD CONSTRAINT ck_wallet_ledger_kind_known "
               f"CHECK (kind IN ({listed})) NOT VALID")
    op.execute("ALTER TABLE wallet_ledger VALIDATE CONSTRAINT ck_wallet_ledger_kind_known")


def upgrade():
    op.create_table(
        'wallet_credits',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('user_id', sa.BigInteger(), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=10), server_default='pending', nullable=False),
        sa.Column('request_key', sa.String(length=64), nullable=False),
        sa.Column('requested_by', sa.BigInteger(), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('decided_by', sa.BigInteger(), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ledger_id', sa.BigInteger(), nullable=True),
        sa.Column('reversed_by', sa.BigInteger(), nullable=True),
        sa.Column('reversed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reversal_reason', sa.String(length=200), nullable=True),
        sa.Column('reversal_ledger_id', sa.BigInteger(), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name=op.f('ck_wallet_credits_status_known')),
        sa.CheckConstraint('amount > 0', name=op.f('ck_wallet_credits_amount_positive')),
        sa.CheckConstraint('length(btrim(reason)) > 0', name=op.f('ck_wallet_credits_reason_given')),
        sa.CheckConstraint("reversed_at IS NULL OR status = 'approved'",
                           name=op.f('ck_wallet_credits_reversal_of_approved')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_wallet_credits_user_id_users'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_wallet_credits_requested_by_users')),
        sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_wallet_credits_decided_by_users')),
        sa.ForeignKeyConstraint(['reversed_by'], ['users.id'], name=op.f('fk_wallet_credits_reversed_by_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_wallet_credits')),
        sa.UniqueConstraint('requested_by', 'request_key', name=op.f('uq_wallet_credits_requested_by')),
    )
    op.create_index('ix_wallet_credits_user_id', 'wallet_credits', ['user_id'])
    op.create_index('ix_wallet_credits_pending', 'wallet_credits', ['requested_at'],
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_table(
        'staff_credit_days',
        sa.Column('staff_id', sa.BigInteger(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('total', sa.BigInteger(), nullable=False),
        sa.CheckConstraint('total >= 0', name=op.f('ck_staff_credit_days_total_not_negative')),
        sa.ForeignKeyConstraint(['staff_id'], ['users.id'], name=op.f('fk_staff_credit_days_staff_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('staff_id', 'day', name=op.f('pk_staff_credit_days')),
    )
    _kind_check(('top_up', 'payment', 'refund', 'reversal'))


def downgrade():
    reversals = op.get_bind().execute(sa.text("SELECT count(*) FROM wallet_ledger WHERE kind = 'reversal'")).scalar()
    if reversals:
        raise RuntimeError(f"{reversals} reversal entries are in the wallet ledger; revision 0008 has no kind "
                           "for them, and the ledger is never edited. Keep revision 0010.")
    _kind_check(('top_up', 'payment', 'refund'))
    op.drop_table('staff_credit_days')
    op.drop_index('ix_wallet_credits_pending', table_name='wallet_credits')
    op.drop_index('ix_wallet_credits_user_id', table_name='wallet_credits')
    op.drop_table('wallet_credits')
