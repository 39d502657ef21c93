"""mail and account recovery: the mail outbox, bulk notices, account tokens, verified e-mail

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 07:30:00

New tables, and three nullable/defaulted columns on ``users`` (PostgreSQL adds a column with a
constant default without rewriting the table), so nothing in use is rewritten or locked for
long. ``mail_outbox`` is the durable queue the request's transaction writes to and
``ticketing-mail-sender`` drains (docs/decisions/0055); ``mail_campaigns`` are the bulk
notices to a match's ticket holders, expanded into the outbox in resumable batches;
``account_tokens`` hold e-mail verification and password reset tokens, as SHA-256 hashes only.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('email_verified_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('users', sa.Column('locale', sa.String(length=5), server_default='en', nullable=False))
    op.add_column('users', sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(op.f('ck_users_locale_known'), 'users', "locale IN ('en', 'sl')")

    op.create_table(
        'mail_campaigns',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('match_id', sa.BigInteger(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
        sa.Column('total', sa.Integer(), server_default='0', nullable=False),
        sa.Column('enqueued', sa.Integer(), server_default='0', nullable=False),
        sa.Column('cursor_user_id', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('match_cancelled', 'match_rescheduled')", name=op.f('ck_mail_campaigns_kind_known')),
        sa.ForeignKeyConstraint(['match_id'], ['matches.id'], name=op.f('fk_mail_campaigns_match_id_matches'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_campaigns')),
    )
    op.create_index(op.f('ix_mail_campaigns_match_id'), 'mail_campaigns', ['match_id'])
    op.create_index('ix_mail_campaigns_unfinished', 'mail_campaigns', ['id'],
                    postgresql_where=sa.text('finished_at IS NULL'))

    op.create_table(
        'mail_outbox',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('message_id', sa.String(length=200), nullable=False),
        sa.Column('dedupe_key', sa.String(length=200), nullable=True),
        sa.Column('user_id', sa.BigInteger(), nullable=True),
        sa.Column('campaign_id', sa.BigInteger(), nullable=True),
        sa.Column('recipient', sa.String(length=254), nullable=False),
        sa.Column('template', sa.String(length=64), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('body_text', sa.Text(), nullable=True),
        sa.Column('body_html', sa.Text(), nullable=True),
        sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_mail_outbox_user_id_users'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['campaign_id'], ['mail_campaigns.id'],
                                name=op.f('fk_mail_outbox_campaign_id_mail_campaigns'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_outbox')),
        sa.UniqueConstraint('message_id', name=op.f('uq_mail_outbox_message_id')),
        sa.UniqueConstraint('dedupe_key', name=op.f('uq_mail_outbox_dedupe_key')),
    )
    # The sender's scan: only what is still to be sent, oldest due first.
    op.create_index('ix_mail_outbox_due', 'mail_outbox', ['next_attempt_at', 'id'],
                    postgresql_where=sa.text('sent_at IS NULL AND failed_at IS NULL'))
    op.create_index(op.f('ix_mail_outbox_campaign_id'), 'mail_outbox', ['campaign_id'])
    op.create_index(op.f('ix_mail_outbox_user_id'), 'mail_outbox', ['user_id'])

    op.create_table(
        'account_tokens',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('user_id', sa.BigInteger(), nullable=False),
        sa.Column('purpose', sa.String(length=16), nullable=False),
        sa.Column('token_hash', sa.LargeBinary(length=32), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("purpose IN ('verify_email', 'reset_password')", name=op.f('ck_account_tokens_purpose_known')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_account_tokens_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_account_tokens')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_account_tokens_token_hash')),
    )
    op.create_index(op.f('ix_account_tokens_user_id'), 'account_tokens', ['user_id'])


def downgrade():
    op.drop_table('account_tokens')
    op.drop_table('mail_outbox')
    op.drop_table('mail_campaigns')
    op.drop_constraint(op.f('ck_users_locale_known'), 'users', type_='check')
    op.drop_column('users', 'deleted_at')
    op.drop_column('users', 'locale')
    op.drop_column('users', 'email_verified_at')
