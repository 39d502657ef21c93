"""waiting room: per-match queue settings, fans' places, and the history of calls

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 05:10:00

New tables only: nothing in use is locked or rewritten. Each room also numbers the fans who
join after sales open with a sequence of its own, ``queue_numbers_<match id>``, which the app
creates when staff first set the room up (services/waiting_room.py); downgrading drops them.
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'waiting_rooms',
        sa.Column('match_id', sa.BigInteger(), nullable=False),
        sa.Column('enabled', sa.Boolean(), server_default='false', nullable=False),
        sa.Column('mode', sa.String(length=10), server_default='fixed', nullable=False),
        sa.Column('admit_per_minute', sa.Integer(), server_default='600', nullable=False),
        sa.Column('max_shopping', sa.Integer(), server_default='500', nullable=False),
        sa.Column('shopping_seconds', sa.Integer(), server_default='600', nullable=False),
        sa.Column('opens_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('paused', sa.Boolean(), server_default='false', nullable=False),
        sa.Column('joined_before_opening', sa.BigInteger(), nullable=True),
        sa.Column('called', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('serving_key', sa.Float(), server_default='0', nullable=False),
        sa.Column('credit', sa.Float(), server_default='0', nullable=False),
        sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("mode IN ('fixed', 'adaptive')", name=op.f('ck_waiting_rooms_mode_known')),
        sa.CheckConstraint('admit_per_minute BETWEEN 1 AND 100000', name=op.f('ck_waiting_rooms_admit_per_minute_range')),
        sa.CheckConstraint('max_shopping BETWEEN 1 AND 100000', name=op.f('ck_waiting_rooms_max_shopping_range')),
        sa.CheckConstraint('shopping_seconds BETWEEN 60 AND 7200', name=op.f('ck_waiting_rooms_shopping_seconds_range')),
        sa.ForeignKeyConstraint(['match_id'], ['matches.id'], name=op.f('fk_waiting_rooms_match_id_matches'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('match_id', name=op.f('pk_waiting_rooms')),
    )
    op.create_table(
        'queue_places',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('match_id', sa.BigInteger(), nullable=False),
        sa.Column('user_id', sa.BigInteger(), nullable=False),
        sa.Column('order_key', sa.Float(), nullable=False),
        sa.Column('joined_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('taken_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('called_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('admitted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['match_id'], ['waiting_rooms.match_id'],
                                name=op.f('fk_queue_places_match_id_waiting_rooms'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_queue_places_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_places')),
        sa.UniqueConstraint('match_id', 'user_id', name=op.f('uq_queue_places_match_id_user_id')),
        sa.UniqueConstraint('match_id', 'order_key', name=op.f('uq_queue_places_match_id_order_key')),
    )
    op.create_index('ix_queue_places_waiting', 'queue_places', ['match_id', 'order_key'],
                    postgresql_where=sa.text('called_at IS NULL'))
    op.create_index('ix_queue_places_user_id', 'queue_places', ['user_id'])
    op.create_index('ix_queue_places_shopping', 'queue_places', ['match_id', 'called_at'],
                    postgresql_where=sa.text('called_at IS NOT NULL AND done_at IS NULL'))
    op.create_table(
        'waiting_room_calls',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('match_id', sa.BigInteger(), nullable=False),
        sa.Column('called_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('up_to_key', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['match_id'], ['waiting_rooms.match_id'],
                                name=op.f('fk_waiting_room_calls_match_id_waiting_rooms'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_waiting_room_calls')),
    )
    op.create_index('ix_waiting_room_calls_match_id_called_at', 'waiting_room_calls', ['match_id', 'called_at'])


def downgrade():
    op.execute("DO $$ DECLARE name text; BEGIN FOR name IN SELECT relname FROM pg_class "
               "WHERE relkind = 'S' AND relname ~ '^queue_numbers_[0-9]+$' LOOP "
               "EXECUTE format('DROP SEQUENCE %I', name); END LOOP; END $$")
    op.drop_index('ix_waiting_room_calls_match_id_called_at', table_name='waiting_room_calls')
    op.drop_table('waiting_room_calls')
    op.drop_index('ix_queue_places_shopping', table_name='queue_places')
    op.drop_index('ix_queue_places_user_id', table_name='queue_places')
    op.drop_index('ix_queue_places_waiting', table_name='queue_places')
    op.drop_table('queue_places')
    op.drop_table('waiting_rooms')
