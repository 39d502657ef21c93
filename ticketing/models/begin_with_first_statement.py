"""BEGIN sent with a transaction's first statement, in its round trip (decision 0030).

psycopg2 opens a transaction by sending ``BEGIN`` on its own and waiting for the answer
before the first statement, so every request's transaction paid a round trip that carries
nothing: 2 of a purchase's 14 (hold and checkout). On a loaded 2-core machine each round trip
costs the thread its turn at the GIL and holds the fan's row locks a little longer
(docs/decisions/0011, 0020).

So the main engine's psycopg2 connections run in autocommit mode, and the transaction is
ours to open and end, exactly where SQLAlchemy's would be:

- SQLAlchemy's ``begin`` event (a Connection starting its transaction, which every session
  and ``engine.begin()`` does before its first statement) marks the connection *begin
  pending*; the next statement its cursors send is prefixed with ``BEGIN;`` in the same
  simple-query message, so PostgreSQL runs both, in order, in one round trip.
- ``commit()`` and ``rollback()``, which SQLAlchemy calls to end the transaction (and
  ``rollback()`` again when the pool takes a connection back), send ``COMMIT`` or
  ``ROLLBACK`` when libpq says a transaction is open (``get_transaction_status()``, read
  locally, no round trip), and drop a pending BEGIN that no statement used.

What does not change: a transaction holds exactly the statements it held before, with the
same isolation (READ COMMITTED, the server's default), the same COMMIT with
``synchronous_commit`` on, and a failed statement leaves the transaction aborted until the
ROLLBACK, as before. Statements outside a SQLAlchemy transaction (SQLAlchemy's dialect
set-up on connect, a pool ping) run in autocommit, as psycopg2 would have them run and then
rolled back: they only read. A connection switched out of autocommit (an isolation level
set with ``execution_options``) is left to psycopg2's own BEGIN, COMMIT and ROLLBACK.
"""
import psycopg2
from psycopg2.extensions import TRANSACTION_STATUS_IDLE
from sqlalchemy import event


class BeginWithFirstStatementCursor(psycopg2.extensions.cursor):
    """Sends the connection's pending BEGIN with the next statement."""

    def execute(self, query, vars=None):
        connection = self.connection
        if connection.begin_pending:
            connection.begin_pending = False
            if not connection.autocommit:
                pass  # switched out of autocommit (an isolation level set): psycopg2 begins
            elif isinstance(query, str):
                query = "BEGIN;\n" + query
            else:  # bytes or a psycopg2.sql object: BEGIN in a round trip of its own
                super().execute("BEGIN")
        return super().execute(query, vars)

    def _begin_alone(self):
        connection = self.connection
        if connection.begin_pending:
            connection.begin_pending = False
            if connection.autocommit:
                super().execute("BEGIN")

    def executemany(self, query, vars_list):
        self._begin_alone()  # BEGIN prefixed to each execution would begin once per row
        return super().executemany(query, vars_list)

    def callproc(self, procname, parameters=None):
        self._begin_alone()
        return super().callproc(procname, parameters)

    def copy_expert(self, sql, file, size=8192):
        self._begin_alone()
        return super().copy_expert(sql, file, size)

    def copy_from(self, *args, **kwargs):
        self._begin_alone()
        return super().copy_from(*args, **kwargs)

    def copy_to(self, *args, **kwargs):
        self._begin_alone()
        return super().copy_to(*args, **kwargs)


class BeginWithFirstStatementConnection(psycopg2.extensions.connection):
    """An autocommit psycopg2 connection whose transactions SQLAlchemy's events open."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.autocommit = True
        self.begin_pending = False
        self.cursor_factory = BeginWithFirstStatementCursor

    def _end(self, command):
        self.begin_pending = False
        if not self.autocommit:  # an isolation level was set on it: psycopg2's own way
            return super().commit() if command == "COMMIT" else super().rollback()
        if self.get_transaction_status() != TRANSACTION_STATUS_IDLE:
            with psycopg2.extensions.cursor(self) as cursor:
                cursor.execute(command)

    def commit(self):
        self._end("COMMIT")

    def rollback(self):
        self._end("ROLLBACK")


def install(engine):
    """Open ``engine``'s transactions with their first statement; the engine must have been
    created with ``connect_args={"connection_factory": BeginWithFirstStatementConnection}``."""

    @event.listens_for(engine, "begin")
    def _begin_pending(connection):
        connection.connection.dbapi_connection.begin_pending = True

    return engine
