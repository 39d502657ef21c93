"""The migrations build exactly the schema the models describe (no drift either way)."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ticketing.models import metadata


def test_models_and_migrations_agree(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"models and alembic/versions differ; write a migration: {diff}"


def test_the_available_seat_indexes_survive_a_failed_concurrent_build_and_go_back_down():
    """Migration 0006 builds its indexes CONCURRENTLY. A build that failed leaves an INVALID
    index, which ``IF NOT EXISTS`` alone would take for done before dropping the old ones: the
    scans would be left with no usable index. It is rebuilt instead; downgrade and upgrade
    again work too."""
    from sqlalchemy import create_engine, text

    from tests import database

    base = database.server_url()
    url, name = database.create_test_database(base)
    engine = create_engine(url)

    def indexes():
        with engine.connect() as conn:
            return dict(conn.execute(text(
                "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = 'match_seats'::regclass AND c.relname LIKE 'ix_match_seats_%'"
            )).all())

    try:
        database.migrate(url, "0005")
        with engine.begin() as conn:  # what an interrupted CREATE INDEX CONCURRENTLY leaves
            conn.execute(text("CREATE INDEX ix_match_seats_available_layout ON match_seats (match_id) "
                              "WHERE status = 'available'"))
            conn.execute(text("UPDATE pg_index SET indisvalid = false "
                              "WHERE indexrelid = 'ix_match_seats_available_layout'::regclass"))
        assert indexes()["ix_match_seats_available_layout"] is False
        database.migrate(url, "0006")
        assert indexes() == {"ix_match_seats_available": True, "ix_match_seats_available_layout": True,
                             "ix_match_seats_held_until": True, "ix_match_seats_hold_id": True}
        with engine.connect() as conn:
            columns = conn.execute(text(
                "SELECT pg_get_indexdef('ix_match_seats_available_layout'::regclass)")).scalar_one()
        assert "(match_id, section_id, row_index, number)" in columns  # built again, not the leftover
        database.downgrade(url, "0005")
        assert indexes() == {"ix_match_seats_claimable": True, "ix_match_seats_claimable_layout": True,
                             "ix_match_seats_held_until": True, "ix_match_seats_hold_id": True}
        database.migrate(url, "head")
        assert set(indexes()) >= {"ix_match_seats_available", "ix_match_seats_available_layout"}
    finally:
        engine.dispose()
        database.drop_test_database(base, name)


def test_the_wallet_credits_migration_goes_down_unless_the_ledger_holds_reversals():
    """0010 widens the ledger's kinds with ``reversal``. Going back is refused while such rows
    exist (the ledger is never edited to fit an older schema), and works once none are left."""
    import pytest
    from sqlalchemy import create_engine, text

    from tests import database

    base = database.server_url()
    url, name = database.create_test_database(base)
    engine = create_engine(url)
    try:
        database.migrate(url, "0010")
        with engine.begin() as conn:
            user = conn.execute(text("INSERT INTO users (email, full_name, password_hash) "
                                     "VALUES ('m@example.com', 'M', 'x') RETURNING id")).scalar_one()
            conn.execute(text("INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, currency) "
                              "VALUES (:u, 'reversal', 100, 0, 'EUR')"), {"u": user})
        with pytest.raises(RuntimeError, match="1 reversal entries"):
            database.downgrade(url, "-1")
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM wallet_ledger"))
        database.downgrade(url, "-1")  # one step: whatever 0010 follows once re-chained
        with engine.connect() as conn:
            assert conn.execute(text("SELECT to_regclass('wallet_credits')")).scalar_one() is None
        database.migrate(url, "0010")
    finally:
        engine.dispose()
        database.drop_test_database(base, name)
