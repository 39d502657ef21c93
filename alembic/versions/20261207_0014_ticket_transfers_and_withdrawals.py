"""ticket transfers, and withdrawals in the wallet ledger

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-07 07:30:00

A ledger row may now be a ``withdrawal`` (money paid out of the wallet, decision 0059), and
each transfer of a ticket from one fan to another is recorded in ``ticket_transfers``
(decision 0058). The ledger's CHECK is swapped in place: the table is scanned once to
validate it, which is fast next to any sale (one row per money movement).

Downgrade puts the old CHECK back ``NOT VALID``: withdrawals already paid out stay in the
ledger (deleting them would break every balance), while new rows are checked again.
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    # The ledger's check is swapped in transactions of its own, first: one ALTER holds the
    # table's ACCESS EXCLUSIVE lock for a moment (NOT VALID reads no row), and VALIDATE then
    # reads the rows under a lock that lets purchases write. Held until the end of one
    # migration transaction, the exclusive lock waited behind the foreign key on tickets
    # below, which waits for purchases, which wait for the ledger: every buyer stalled
    # (tests/operations/test_upgrade_during_a_sale.py).
    with op.get_context().autocommit_block():
        op.execute(
            "ALTER TABLE wallet_ledger DROP CONSTRAINT ck_wallet_ledger_kind_known, "
            "ADD CONSTRAINT ck_wallet_ledger_kind_known "
            "CHECK (kind IN ('top_up', 'payment', 'refund', 'reversal', 'withdrawal')) NOT VALID"
        )
        op.execute("ALTER TABLE wallet_ledger VALIDATE CONSTRAINT ck_wallet_ledger_kind_known")
    op.create_table(
        'ticket_transfers',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('ticket_id', sa.BigInteger(), nullable=False),
        sa.Column('match_id', sa.BigInteger(), nullable=False),
        sa.Column('from_user_id', sa.BigInteger(), nullable=False),
        sa.Column('to_user_id', sa.BigInteger(), nullable=False),
        sa.Column('from_version', sa.SmallInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'),
                  nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_transfers_ticket_id_tickets')),
        sa.ForeignKeyConstraint(['match_id'], ['matches.id'], name=op.f('fk_ticket_transfers_match_id_matches')),
        sa.ForeignKeyConstraint(['from_user_id'], ['users.id'],
                                name=op.f('fk_ticket_transfers_from_user_id_users')),
        sa.ForeignKeyConstraint(['to_user_id'], ['users.id'], name=op.f('fk_ticket_transfers_to_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_transfers')),
    )
    op.create_index(op.f('ix_ticket_transfers_ticket_id'), 'ticket_transfers', ['ticket_id'], unique=False)
    op.create_index(op.f('ix_ticket_transfers_to_user_id'), 'ticket_transfers', ['to_user_id'], unique=False)
    op.create_index(op.f('ix_ticket_transfers_from_user_id'), 'ticket_transfers', ['from_user_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_ticket_transfers_from_user_id'), table_name='ticket_transfers')
    op.drop_index(op.f('ix_ticket_transfers_to_user_id'), table_name='ticket_transfers')
    op.drop_index(op.f('ix_ticket_transfers_ticket_id'), table_name='ticket_transfers')
    op.drop_table('ticket_transfers')
    op.drop_constraint(op.f('ck_wallet_ledger_kind_known'), 'wallet_ledger', type_='check')
    op.execute(
        "ALTER TABLE wallet_ledger ADD CONSTRAINT ck_wallet_ledger_kind_known "
        "CHECK (kind IN ('top_up', 'payment', 'refund', 'reversal')) NOT VALID"
    )
