"""The main engine's transactions, now that BEGIN rides with their first statement (decision
0030): they are still transactions. What a rollback undoes is undone, row locks last until
the end, a failed statement aborts only its own transaction, and a connection goes back to
the pool with no transaction open. Each would break if BEGIN were lost (the connection is
in autocommit mode underneath, so every statement would commit on its own)."""
import threading

import pytest
from psycopg2.extensions import TRANSACTION_STATUS_IDLE
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session


@pytest.fixture
def scratch(engine):
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS begin_scratch (id int PRIMARY KEY, note text)"))
        conn.execute(text("TRUNCATE begin_scratch"))
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE begin_scratch"))


def _count(engine):
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM begin_scratch")).scalar_one()


def test_a_rollback_undoes_every_statement_of_the_transaction(scratch):
    with Session(scratch) as session:
        session.execute(text("INSERT INTO begin_scratch VALUES (1, 'first statement')"))
        session.execute(text("INSERT INTO begin_scratch VALUES (2, 'second')"))
        session.rollback()
    assert _count(scratch) == 0
    with Session(scratch) as session:
        session.execute(text("INSERT INTO begin_scratch VALUES (1, 'kept')"))
        session.commit()
    assert _count(scratch) == 1


def test_executemany_runs_inside_the_transaction(scratch):
    with scratch.connect() as conn:
        conn.execute(text("INSERT INTO begin_scratch VALUES (:id, :note)"),
                     [{"id": i, "note": "many"} for i in range(5)])
        conn.rollback()
    assert _count(scratch) == 0


def test_row_locks_last_until_commit(scratch):
    with scratch.begin() as conn:
        conn.execute(text("INSERT INTO begin_scratch VALUES (1, 'locked')"))
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock():
        with scratch.begin() as conn:
            conn.execute(text("SELECT 1 FROM begin_scratch WHERE id = 1 FOR UPDATE"))
            locked.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert locked.wait(10)
        with pytest.raises(OperationalError, match="lock timeout"):
            with scratch.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '200ms'"))
                conn.execute(text("UPDATE begin_scratch SET note = 'waited' WHERE id = 1"))
    finally:
        release.set()
        holder.join()
    with scratch.begin() as conn:  # the lock went with the holder's commit
        conn.execute(text("SET LOCAL lock_timeout = '2s'"))
        conn.execute(text("UPDATE begin_scratch SET note = 'after' WHERE id = 1"))


def test_a_failed_statement_aborts_its_transaction_and_the_connection_is_reused_clean(scratch):
    with scratch.begin() as conn:
        conn.execute(text("INSERT INTO begin_scratch VALUES (1, 'exists')"))
    with pytest.raises(IntegrityError):
        with scratch.begin() as conn:
            conn.execute(text("INSERT INTO begin_scratch VALUES (2, 'undone with the failure')"))
            conn.execute(text("INSERT INTO begin_scratch VALUES (1, 'duplicate')"))
    assert _count(scratch) == 1
    with scratch.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        conn.execute(text("SELECT 1"))
        assert dbapi.get_transaction_status() != TRANSACTION_STATUS_IDLE  # inside its transaction
        conn.commit()
        assert dbapi.get_transaction_status() == TRANSACTION_STATUS_IDLE


def test_a_transaction_without_statements_sends_nothing_and_leaves_no_begin_behind(scratch):
    with scratch.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        conn.begin()
        assert dbapi.begin_pending
        conn.commit()
        assert not dbapi.begin_pending and dbapi.get_transaction_status() == TRANSACTION_STATUS_IDLE


def test_a_connection_given_an_isolation_level_keeps_psycopg2s_own_transactions(scratch):
    with scratch.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        conn.execute(text("INSERT INTO begin_scratch VALUES (1, 'repeatable')"))
        assert conn.execute(text("SHOW transaction_isolation")).scalar_one() == "repeatable read"
        conn.rollback()
    assert _count(scratch) == 0
    with Session(scratch) as session:  # the pooled connection is back to the default
        session.execute(text("INSERT INTO begin_scratch VALUES (2, 'read committed')"))
        assert session.execute(text("SHOW transaction_isolation")).scalar_one() == "read committed"
        session.rollback()
    assert _count(scratch) == 0
