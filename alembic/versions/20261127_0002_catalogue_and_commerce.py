"""catalogue and commerce

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 11:30:48.147529
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('stadiums',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('city', sa.String(length=120), nullable=False),
    sa.Column('address', sa.String(length=300), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stadiums')),
    sa.UniqueConstraint('name', name=op.f('uq_stadiums_name'))
    )
    op.create_table('idempotency_keys',
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('scope', sa.String(length=100), nullable=False),
    sa.Column('request_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('response_body', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("state IN ('running', 'done')", name=op.f('ck_idempotency_keys_state_known')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_idempotency_keys_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'key', name=op.f('pk_idempotency_keys'))
    )
    op.create_index('ix_idempotency_keys_created_at', 'idempotency_keys', ['created_at'], unique=False)
    op.create_table('matches',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('stadium_id', sa.BigInteger(), nullable=False),
    sa.Column('home_team', sa.String(length=120), nullable=False),
    sa.Column('away_team', sa.String(length=120), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sales_open_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sales_close_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('refund_cutoff_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('hold_seconds', sa.Integer(), server_default='600', nullable=False),
    sa.Column('max_tickets_per_fan', sa.Integer(), server_default='6', nullable=False),
    sa.Column('status', sa.String(length=16), server_default='draft', nullable=False),
    sa.Column('seat_version', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'on_sale', 'closed', 'cancelled')", name=op.f('ck_matches_status_known')),
    sa.CheckConstraint('hold_seconds BETWEEN 30 AND 3600', name=op.f('ck_matches_hold_seconds_range')),
    sa.CheckConstraint('lower(home_team) <> lower(away_team)', name=op.f('ck_matches_teams_differ')),
    sa.CheckConstraint('max_tickets_per_fan BETWEEN 1 AND 50', name=op.f('ck_matches_max_tickets_range')),
    sa.CheckConstraint('sales_close_at <= starts_at', name=op.f('ck_matches_sales_close_before_kickoff')),
    sa.CheckConstraint('sales_open_at < sales_close_at', name=op.f('ck_matches_sales_window_ordered')),
    sa.ForeignKeyConstraint(['stadium_id'], ['stadiums.id'], name=op.f('fk_matches_stadium_id_stadiums')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_matches'))
    )
    op.create_index(op.f('ix_matches_stadium_id'), 'matches', ['stadium_id'], unique=False)
    op.create_index('ix_matches_starts_at', 'matches', ['starts_at'], unique=False)
    op.create_table('sections',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('stadium_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('origin_x', sa.Integer(), nullable=False),
    sa.Column('origin_y', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('seat_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('seat_count > 0', name=op.f('ck_sections_seat_count_positive')),
    sa.ForeignKeyConstraint(['stadium_id'], ['stadiums.id'], name=op.f('fk_sections_stadium_id_stadiums'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sections')),
    sa.UniqueConstraint('stadium_id', 'name', name='uq_sections_stadium_id_name')
    )
    op.create_index(op.f('ix_sections_stadium_id'), 'sections', ['stadium_id'], unique=False)
    op.create_table('wallet_ledger',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('balance_after', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('order_id', sa.BigInteger(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('created_by', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('top_up', 'payment', 'refund')", name=op.f('ck_wallet_ledger_kind_known')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_wallet_ledger_amount_positive')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_wallet_ledger_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wallet_ledger'))
    )
    op.create_index(op.f('ix_wallet_ledger_order_id'), 'wallet_ledger', ['order_id'], unique=False)
    op.create_index('ix_wallet_ledger_user_id_id', 'wallet_ledger', ['user_id', 'id'], unique=False)
    op.create_table('wallets',
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('balance', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('balance >= 0', name=op.f('ck_wallets_balance_not_negative')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_wallets_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_wallets'))
    )
    op.create_table('holds',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('match_id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('seat_ids', sa.ARRAY(sa.BigInteger()), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=12), server_default='active', nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('active', 'released', 'replaced', 'checked_out', 'expired', 'cancelled')", name=op.f('ck_holds_status_known')),
    sa.ForeignKeyConstraint(['match_id'], ['matches.id'], name=op.f('fk_holds_match_id_matches')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_holds_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_holds'))
    )
    op.create_index('ix_holds_expires_at_active', 'holds', ['expires_at'], unique=False, postgresql_where=sa.text("status = 'active'"))
    op.create_index('ix_holds_user_id_match_id', 'holds', ['user_id', 'match_id'], unique=False)
    op.create_index('uq_holds_one_active_per_fan_match', 'holds', ['user_id', 'match_id'], unique=True, postgresql_where=sa.text("status = 'active'"))
    op.create_table('match_seat_versions',
    sa.Column('match_id', sa.BigInteger(), nullable=False),
    sa.Column('shard', sa.Integer(), nullable=False),
    sa.Column('version', sa.BigInteger(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['match_id'], ['matches.id'], name=op.f('fk_match_seat_versions_match_id_matches'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('match_id', 'shard', name=op.f('pk_match_seat_versions'))
    )
    op.create_table('price_categories',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('match_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.CheckConstraint('price >= 0', name=op.f('ck_price_categories_price_not_negative')),
    sa.ForeignKeyConstraint(['match_id'], ['matches.id'], name=op.f('fk_price_categories_match_id_matches'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_price_categories')),
    sa.UniqueConstraint('match_id', 'id', name='uq_price_categories_match_id_id'),
    sa.UniqueConstraint('match_id', 'name', name='uq_price_categories_match_id_name')
    )
    op.create_table('seats',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('stadium_id', sa.BigInteger(), nullable=False),
    sa.Column('section_id', sa.BigInteger(), nullable=False),
    sa.Column('row_label', sa.String(length=20), nullable=False),
    sa.Column('row_index', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('x', sa.Integer(), nullable=False),
    sa.Column('y', sa.Integer(), nullable=False),
    sa.CheckConstraint('number > 0', name=op.f('ck_seats_number_positive')),
    sa.ForeignKeyConstraint(['section_id'], ['sections.id'], name=op.f('fk_seats_section_id_sections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['stadium_id'], ['stadiums.id'], name=op.f('fk_seats_stadium_id_stadiums'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_seats')),
    sa.UniqueConstraint('section_id', 'row_label', 'number', name='uq_seats_section_row_number')
    )
    op.create_index('ix_seats_stadium_id_section_id', 'seats', ['stadium_id', 'section_id'], unique=False)
    op.create_table('match_seats',
    sa.Column('match_id', sa.BigInteger(), nullable=False),
    sa.Column('seat_id', sa.BigInteger(), nullable=False),
    sa.Column('section_id', sa.BigInteger(), nullable=False),
    sa.Column('row_index', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.BigInteger(), nullable=True),
    sa.Column('price', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('blocked_reason', sa.String(length=40), nullable=True),
    sa.Column('hold_id', sa.BigInteger(), nullable=True),
    sa.Column('held_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('order_id', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("(status = 'held') = (hold_id IS NOT NULL AND held_until IS NOT NULL)", name=op.f('ck_match_seats_held_has_hold')),
    sa.CheckConstraint("status <> 'sold' OR order_id IS NOT NULL", name=op.f('ck_match_seats_sold_has_order')),
    sa.CheckConstraint("status IN ('available', 'held', 'sold', 'blocked')", name=op.f('ck_match_seats_status_known')),
    sa.CheckConstraint('price >= 0', name=op.f('ck_match_seats_price_not_negative')),
    sa.ForeignKeyConstraint(['category_id'], ['price_categories.id'], name=op.f('fk_match_seats_category_id_price_categories')),
    sa.ForeignKeyConstraint(['match_id'], ['matches.id'], name=op.f('fk_match_seats_match_id_matches')),
    sa.ForeignKeyConstraint(['seat_id'], ['seats.id'], name=op.f('fk_match_seats_seat_id_seats')),
    sa.PrimaryKeyConstraint('match_id', 'seat_id', name=op.f('pk_match_seats'))
    )
    op.create_index('ix_match_seats_claimable', 'match_seats', ['match_id', 'category_id', 'section_id', 'row_index', 'number'], unique=False, postgresql_where=sa.text("status IN ('available', 'held')"))
    op.create_index('ix_match_seats_held_until', 'match_seats', ['match_id', 'held_until'], unique=False, postgresql_where=sa.text("status = 'held'"))
    op.create_index('ix_match_seats_hold_id', 'match_seats', ['hold_id'], unique=False, postgresql_where=sa.text('hold_id IS NOT NULL'))
    op.create_table('orders',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('match_id', sa.BigInteger(), nullable=False),
    sa.Column('hold_id', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='paid', nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("status IN ('paid', 'cancelled')", name=op.f('ck_orders_status_known')),
    sa.CheckConstraint('total >= 0', name=op.f('ck_orders_total_not_negative')),
    sa.ForeignKeyConstraint(['hold_id'], ['holds.id'], name=op.f('fk_orders_hold_id_holds')),
    sa.ForeignKeyConstraint(['match_id'], ['matches.id'], name=op.f('fk_orders_match_id_matches')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_orders_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('hold_id', name=op.f('uq_orders_hold_id'))
    )
    op.create_index('ix_orders_match_id', 'orders', ['match_id'], unique=False)
    op.create_index('ix_orders_user_id_id', 'orders', ['user_id', 'id'], unique=False)
    op.create_table('seat_assignments',
    sa.Column('match_id', sa.BigInteger(), nullable=False),
    sa.Column('seat_id', sa.BigInteger(), nullable=False),
    sa.Column('category_id', sa.BigInteger(), nullable=True),
    sa.Column('blocked_reason', sa.String(length=40), nullable=True),
    sa.CheckConstraint('category_id IS NOT NULL OR blocked_reason IS NOT NULL', name=op.f('ck_seat_assignments_category_or_blocked')),
    sa.ForeignKeyConstraint(['match_id', 'category_id'], ['price_categories.match_id', 'price_categories.id'], name='fk_seat_assignments_category', ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['match_id'], ['matches.id'], name=op.f('fk_seat_assignments_match_id_matches'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['seat_id'], ['seats.id'], name=op.f('fk_seat_assignments_seat_id_seats')),
    sa.PrimaryKeyConstraint('match_id', 'seat_id', name=op.f('pk_seat_assignments'))
    )
    op.create_table('tickets',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('order_id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('match_id', sa.BigInteger(), nullable=False),
    sa.Column('seat_id', sa.BigInteger(), nullable=False),
    sa.Column('category_id', sa.BigInteger(), nullable=True),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=8), server_default='valid', nullable=False),
    sa.Column('code_version', sa.SmallInteger(), server_default='1', nullable=False),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checked_in_by', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('valid', 'void')", name=op.f('ck_tickets_status_known')),
    sa.ForeignKeyConstraint(['match_id'], ['matches.id'], name=op.f('fk_tickets_match_id_matches')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_tickets_order_id_orders')),
    sa.ForeignKeyConstraint(['seat_id'], ['seats.id'], name=op.f('fk_tickets_seat_id_seats')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_tickets_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tickets'))
    )
    op.create_index('ix_tickets_order_id', 'tickets', ['order_id'], unique=False)
    op.create_index('ix_tickets_user_id', 'tickets', ['user_id'], unique=False)
    op.create_index('uq_tickets_valid_match_seat', 'tickets', ['match_id', 'seat_id'], unique=True, postgresql_where=sa.text("status = 'valid'"))


def downgrade():
    op.drop_index('uq_tickets_valid_match_seat', table_name='tickets', postgresql_where=sa.text("status = 'valid'"))
    op.drop_index('ix_tickets_user_id', table_name='tickets')
    op.drop_index('ix_tickets_order_id', table_name='tickets')
    op.drop_table('tickets')
    op.drop_table('seat_assignments')
    op.drop_index('ix_orders_user_id_id', table_name='orders')
    op.drop_index('ix_orders_match_id', table_name='orders')
    op.drop_table('orders')
    op.drop_index('ix_match_seats_hold_id', table_name='match_seats', postgresql_where=sa.text('hold_id IS NOT NULL'))
    op.drop_index('ix_match_seats_held_until', table_name='match_seats', postgresql_where=sa.text("status = 'held'"))
    op.drop_index('ix_match_seats_claimable', table_name='match_seats', postgresql_where=sa.text("status IN ('available', 'held')"))
    op.drop_table('match_seats')
    op.drop_index('ix_seats_stadium_id_section_id', table_name='seats')
    op.drop_table('seats')
    op.drop_table('price_categories')
    op.drop_table('match_seat_versions')
    op.drop_index('uq_holds_one_active_per_fan_match', table_name='holds', postgresql_where=sa.text("status = 'active'"))
    op.drop_index('ix_holds_user_id_match_id', table_name='holds')
    op.drop_index('ix_holds_expires_at_active', table_name='holds', postgresql_where=sa.text("status = 'active'"))
    op.drop_table('holds')
    op.drop_table('wallets')
    op.drop_index('ix_wallet_ledger_user_id_id', table_name='wallet_ledger')
    op.drop_index(op.f('ix_wallet_ledger_order_id'), table_name='wallet_ledger')
    op.drop_table('wallet_ledger')
    op.drop_index(op.f('ix_sections_stadium_id'), table_name='sections')
    op.drop_table('sections')
    op.drop_index('ix_matches_starts_at', table_name='matches')
    op.drop_index(op.f('ix_matches_stadium_id'), table_name='matches')
    op.drop_table('matches')
    op.drop_index('ix_idempotency_keys_created_at', table_name='idempotency_keys')
    op.drop_table('idempotency_keys')
    op.drop_table('stadiums')
