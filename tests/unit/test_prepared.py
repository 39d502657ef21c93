"""Prepared statements (ticketing/services/prepared.py): prepared once per connection, on
first use, with the service's :named SQL turned into numbered, typed parameters."""
import pytest
from sqlalchemy import text

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
    assert str(statement.statement) == "SET LOCAL synchronous_commit TO off;\nEXECUTE test_numbering (:b, :a)"


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
