"""Prepared statements (ticketing/services/prepared.py): prepared once per connection, on
first use, with the service's :named SQL turned into numbered, typed parameters."""
import pytest
from sqlalchemy import exc, text
from sqlalchemy.orm import Session

from ticketing.services.prepared import Prepared


def test_named_parameters_become_numbered_in_order_of_first_use():
    statement = Prepared(
        "test_numbering",
        "SELECT :b::text, CAST(:a AS bigint) % 16, :b, 'x::y' WHERE :a > 0",
        {"a": "bigint", "b": "text"},
        prefix="SET LOCAL synchronous_commit TO off;\n",
    )
    assert statement.parameters == ("b", "a")
    assert statement.prepare_sql == (
        "PREPARE test_numbering (text, bigint) AS SELECT $1::text, CAST($2 AS bigint) % 16, $1, 'x::y' WHERE $2 > 0"
    )
    assert statement.execute_sql == "SET LOCAL synchronous_commit TO off;\nEXECUTE test_numbering (%s, %s)"


def test_every_parameter_needs_a_type_and_names_are_plain():
    with pytest.raises(ValueError, match="no type"):
        Prepared("test_untyped", "SELECT :a", {})
    with pytest.raises(ValueError, match="not a statement name"):
        Prepared("drop table; x", "SELECT 1", {})


def test_prepared_once_per_connection_and_again_on_a_new_one(engine):
    statement = Prepared("test_once", "SELECT :n * 2 AS doubled, :n % 16 AS shard", {"n": "bigint"})
    with engine.connect() as conn:
        assert statement.execute(conn, {"n": 21}).one() == (42, 5)
        assert statement.execute(conn, {"n": 50}).one() == (100, 2)
        prepared = conn.execute(text("SELECT count(*) FROM pg_prepared_statements WHERE name = 'test_once'")).scalar()
        assert prepared == 1
        # A rolled-back transaction keeps the statement (PREPARE is not transactional).
        conn.rollback()
        assert statement.execute(conn, {"n": 1}).one() == (2, 1)
        conn.invalidate()  # the pool replaces the connection: the statement is prepared again
        conn.rollback()
        assert statement.execute(conn, {"n": 3}).one() == (6, 3)
        assert conn.execute(text("SELECT count(*) FROM pg_prepared_statements WHERE name = 'test_once'")).scalar() == 1


def test_results_behave_like_sqlalchemys_for_the_methods_services_use(engine):
    statement = Prepared(
        "test_rows", "SELECT n, n * 10 AS tens FROM generate_series(1, :count) AS n", {"count": "integer"}
    )
    with engine.connect() as conn:
        three = statement.execute(conn, {"count": 3})
        assert [(row.n, row.tens) for row in three.all()] == [(1, 10), (2, 20), (3, 30)]
        assert statement.execute(conn, {"count": 3}).first().tens == 10
        assert statement.execute(conn, {"count": 2}).mappings().all() == [{"n": 1, "tens": 10}, {"n": 2, "tens": 20}]
        assert statement.execute(conn, {"count": 1}).scalar_one() == 1
        assert statement.execute(conn, {"count": 0}).one_or_none() is None
        assert statement.execute(conn, {"count": 0}).scalar_one_or_none() is None
        assert statement.execute(conn, {"count": 0}).first() is None
        with pytest.raises(exc.NoResultFound):
            statement.execute(conn, {"count": 0}).one()
        with pytest.raises(exc.MultipleResultsFound):
            statement.execute(conn, {"count": 2}).one_or_none()


def test_runs_in_the_sessions_transaction(engine):
    insert = Prepared("test_in_transaction", "INSERT INTO rate_limit_counters (key, window_start, hits) "
                      "VALUES (:key, now(), 1) RETURNING hits", {"key": "text"})
    with Session(engine) as session:
        assert insert.execute(session, {"key": "test-prepared-rolled-back"}).scalar_one() == 1
        seen = session.execute(text("SELECT count(*) FROM rate_limit_counters WHERE key = 'test-prepared-rolled-back'"))
        assert seen.scalar() == 1
        session.rollback()
    with engine.connect() as conn:
        after = conn.execute(text("SELECT count(*) FROM rate_limit_counters WHERE key = 'test-prepared-rolled-back'"))
        assert after.scalar() == 0


def test_database_errors_come_out_as_sqlalchemys(engine):
    statement = Prepared("test_errors", "SELECT CAST(:n AS bigint) * 2", {"n": "bigint"})
    with engine.connect() as conn:
        with pytest.raises(exc.DataError) as refused:  # out of range: the views answer 422
            statement.execute(conn, {"n": 2**70})
        assert refused.value.orig.pgcode == "22003"
        conn.rollback()
        assert statement.execute(conn, {"n": 4}).scalar_one() == 8


def test_a_lost_connection_is_invalidated_like_any_statements(engine):
    """The engine's handle_error listeners see it (decision 0016 retries on them) and the pool
    replaces the connection, whose statements are then prepared again."""
    statement = Prepared("test_lost", "SELECT :n + 1", {"n": "integer"})
    seen = []
    from sqlalchemy import event

    def listener(context):
        seen.append((context.is_disconnect, context.statement))

    event.listen(engine, "handle_error", listener)
    try:
        with engine.connect() as conn:
            assert statement.execute(conn, {"n": 1}).scalar_one() == 2
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            conn.commit()
            with engine.connect() as killer:
                killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(exc.OperationalError) as lost:
                statement.execute(conn, {"n": 1})
            assert lost.value.connection_invalidated
            assert seen == [(True, statement.execute_sql)]
            conn.rollback()
            assert statement.execute(conn, {"n": 2}).scalar_one() == 3
    finally:
        event.remove(engine, "handle_error", listener)


def test_a_request_session_runs_every_statement_in_its_one_transaction(engine):
    import transaction

    from ticketing.models import get_session_factory, get_tm_session

    backend = Prepared("test_backend_pid", "SELECT pg_backend_pid(), txid_current()", {})
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        session = get_tm_session(get_session_factory(engine), manager)
        pid, first_txid = backend.execute(session, {}).one()
        assert backend.execute(session, {}).one() == (pid, first_txid)  # the same transaction
    with manager:
        session = get_tm_session(get_session_factory(engine), manager)
        _, second_txid = backend.execute(session, {}).one()
        assert second_txid != first_txid  # a new transaction, begun by the session


def test_inside_a_savepoint_statements_run_in_it_and_roll_back_with_it(engine):
    import transaction

    from ticketing.models import get_session_factory, get_tm_session

    insert = Prepared("test_in_savepoint", "INSERT INTO rate_limit_counters (key, window_start, hits) "
                      "VALUES (:key, now(), 1) RETURNING hits", {"key": "text"})
    count = Prepared("test_count_savepoint", "SELECT count(*) FROM rate_limit_counters WHERE key = :key",
                     {"key": "text"})
    manager = transaction.TransactionManager(explicit=True)
    manager.begin()
    session = get_tm_session(get_session_factory(engine), manager)
    insert.execute(session, {"key": "test-outer"})  # the transaction and its connection exist
    nested = session.begin_nested()
    insert.execute(session, {"key": "test-in-savepoint"})
    assert count.execute(session, {"key": "test-in-savepoint"}).scalar_one() == 1
    nested.rollback()
    assert count.execute(session, {"key": "test-in-savepoint"}).scalar_one() == 0
    assert count.execute(session, {"key": "test-outer"}).scalar_one() == 1
    manager.abort()
