"""The migrations build exactly the schema the models describe (no drift either way)."""
import pytest
from sqlalchemy import text

from tests import database
from tests.database import TRIGRAM_INDEXES


def test_models_and_migrations_agree(engine):
    with engine.connect() as conn:
        diff = database.schema_drift(conn)
    assert diff == [], f"models and alembic/versions differ; write a migration: {diff}"


def test_the_trigram_indexes_exist_where_the_server_ships_pg_trgm(engine):
    with engine.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar():
            pytest.skip("this PostgreSQL has no pg_trgm (contrib): the embedded cluster")
        found = conn.execute(text("SELECT indexname FROM pg_indexes WHERE indexname = ANY(:n)"),
                             {"n": list(TRIGRAM_INDEXES)}).scalars().all()
    assert sorted(found) == sorted(TRIGRAM_INDEXES)


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


def test_migration_0009_goes_down_and_up_again_with_its_tallies():
    """0009 fills the tallies from the rows it finds; down removes them and its indexes."""
    from sqlalchemy import create_engine

    from tests import database

    base = database.server_url()
    url, name = database.create_test_database(base)
    engine = create_engine(url)

    def columns():
        with engine.connect() as conn:
            return set(conn.execute(text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'match_seat_versions'"
            )).scalars())

    def index_names():
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE indexname IN "
                                         "('ix_orders_created_at', 'ix_orders_cancelled_at', 'ix_audit_log_action_id')"
                                         )).scalars())

    try:
        database.migrate(url, "head")
        assert {"seats", "sold", "revenue"} <= columns() and len(index_names()) == 3
        database.downgrade(url, "0008")
        assert not {"seats", "sold", "revenue"} & columns() and not index_names()
        database.migrate(url, "head")
        assert {"seats", "sold", "revenue"} <= columns() and len(index_names()) == 3
    finally:
        engine.dispose()
        database.drop_test_database(base, name)


def test_migration_0009_fills_the_tallies_from_the_rows_it_finds():
    """A database with sales made before 0009: its upgrade counts them into the tallies (the
    invariant "tallies = rows" holds), under the lock that keeps sales out meanwhile."""
    import webtest
    from sqlalchemy import create_engine

    import ticketing
    from tests import database
    from tests.conftest import app_settings, make_user
    from tests.functional.catalogue_helpers import published_match
    from tests.invariants import assert_invariants

    base = database.server_url()
    url, name = database.create_test_database(base)
    engine = create_engine(url)
    wsgi = ticketing.main({}, **app_settings(url))
    app = webtest.TestApp(wsgi, extra_environ={"REMOTE_ADDR": "127.0.0.1"})
    try:
        database.migrate(url, "head")
        staff, fan = make_user(app, engine, "staff"), make_user(app, engine)
        match, *_ = published_match(staff, prices=(1000,))
        fan.post("/api/v1/wallet/top-ups", {"amount": 10_000}, status=201)
        orders = []
        for _ in range(2):
            hold = fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201).json
            orders.append(fan.post(f"/api/v1/holds/{hold['id']}/checkout", status=201).json)
        fan.post(f"/api/v1/orders/{orders[0]['id']}/cancel", status=200)
        for pooled in ("db_engine", "db_autocommit_engine"):  # the app's connections, before the DDL
            wsgi.registry[pooled].dispose()
        database.downgrade(url, "0008")  # the sales as they stood before 0009, no tallies
        database.migrate(url, "head")
        with engine.connect() as conn:
            tallies = conn.execute(text(
                "SELECT sum(seats), sum(sold), sum(paid_orders), sum(revenue), sum(cancelled_orders), sum(refunded) "
                "FROM match_seat_versions WHERE match_id = :m"), {"m": match["id"]}).one()
        assert tuple(tallies) == (30, 2, 1, 2000, 1, 2000)
        assert_invariants(engine)
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
