"""Server-side prepared statements for the purchase hot path (docs/decisions/0017).

psycopg2 sends every statement as text, so PostgreSQL parses and plans it every time; during
a rush pg_stat_statements put planning at ~40 % of the statements' time on the database
(1.6 ms of planning per purchase against 2.2 ms of execution), most of it for the few large
CTEs that claim, pay and issue. A :class:`Prepared` statement is ``PREPARE``\\ d once per
database connection, the first time that connection runs it, and then sent as a short
``EXECUTE name(...)``: PostgreSQL plans it a few times and then reuses a generic plan.

The SQL stays where it is read, in its service, with ``:named`` parameters; each names its
parameters' types (a prepared statement's parameters are typed once, not per call).

Why lazily, per connection: prepared statements live as long as the session that made
them (a ROLLBACK does not undo a PREPARE), so the set of names prepared on a connection is
kept in its pool record's ``info``, which SQLAlchemy clears when it replaces the connection.
Not compatible with a pooler in transaction mode (PgBouncer < 1.21), which would move the
session under us: the app talks to PostgreSQL directly.

Why on the DBAPI cursor (decision 0018): through ``Session.execute`` each EXECUTE cost ~190 µs
of Python (statement compilation, parameter processing, result metadata) against ~60 µs on
psycopg2's cursor; a purchase runs about sixteen of them. The statement still runs on the
session's (or connection's) own DBAPI connection, inside its transaction, and a DBAPI error
goes through SQLAlchemy's own handling, so callers see the same exceptions and a lost
connection is invalidated and retried as for any other statement. What these statements skip
is SQLAlchemy's ``before_cursor_execute`` / ``after_cursor_execute`` events.
"""
import re
from collections import namedtuple

from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.util import is_exit_exception

_BIND = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")
_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def _connection_of(executor):
    """The SQLAlchemy connection to run on: a request session's current one (remembered by
    RequestSession when its transaction began; ``Session.connection()`` costs a walk through
    the session's state machine), else what ``Session.connection()`` returns, beginning the
    session's transaction as ``Session.execute`` would; or the Connection itself."""
    if hasattr(executor, "get_bind"):
        connection = executor.info.get("connection")
        # Not the remembered one inside a savepoint (SQLAlchemy sends the SAVEPOINT when the
        # nested transaction first asks for its connection) or once the transaction has been
        # rolled back under the session (Session.connection() then raises, as it should).
        if connection is None or executor.in_nested_transaction() or not connection.in_transaction():
            connection = executor.connection()
        return connection
    if not executor.in_transaction():
        executor.begin()  # as Connection.execute would (a no-op on autocommit connections)
    return executor


def _run(executor, statement, arguments, prepare=None):
    """Run ``statement`` on the DBAPI cursor; return (rows, the cursor's description, or None
    for a statement that returns no rows). ``prepare``: a (name, PREPARE statement) to send
    first if this database connection has not had it."""
    connection = _connection_of(executor)
    pooled = connection.connection  # the pool's proxy of the DBAPI connection
    cursor = None
    sent = statement
    try:
        cursor = pooled.dbapi_connection.cursor()
        if prepare is not None:
            prepared = pooled.info.setdefault("prepared_statements", set())
            name, sent = prepare
            if name not in prepared:
                cursor.execute(sent)
                prepared.add(name)
            sent = statement
        cursor.execute(sent, arguments)
        description = cursor.description
        if description is None:
            return [], None
        return cursor.fetchall(), description
    except BaseException as error:
        # SQLAlchemy's own translation, as for any statement it runs: the same exception
        # classes (DataError, OperationalError...), the engine's handle_error listeners
        # (retry on a lost connection, decision 0016) and invalidation of a dead connection,
        # or of one interrupted mid-statement (its protocol state is unknown).
        if isinstance(error, connection.dialect.loaded_dbapi.Error) or is_exit_exception(error):
            connection._handle_dbapi_exception(error, sent, arguments, cursor, None)
        raise
    finally:
        if cursor is not None:
            cursor.close()


class _RowClasses:
    """The named-tuple class of a statement's rows.

    A prepared statement's columns are fixed when it is prepared (PostgreSQL refuses to run
    it if a schema change alters them: "cached plan must not change result type"), so the
    class is built from the first description seen and kept; reading the column names off
    every result cost ~2 % of the app's CPU in a sell-out. A description of another width
    (never seen; a guard, not a path) builds its class afresh."""

    def __init__(self, name):
        self.name = name
        self.known = (-1, None)  # (width, class): one attribute, so threads see both or neither

    def rows(self, fetched):
        rows, description = fetched
        if not rows:
            return Rows([])
        width, row_class = self.known
        if len(description) != width:
            row_class = namedtuple(f"{self.name}_row", [column[0] for column in description], rename=True)
            self.known = (len(description), row_class)
        make = row_class._make
        return Rows([make(row) for row in rows])


class Prepared:
    """One statement: ``execute(session_or_connection, params)`` returns its :class:`Rows`."""

    def __init__(self, name, sql, types, prefix=""):
        """``types``: each ``:parameter``'s SQL type; ``prefix``: statements sent in the same
        round trip before the EXECUTE (a ``SAVEPOINT``, a ``SET LOCAL``)."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"not a statement name: {name!r}")
        order = []

        def number(found):
            parameter = found.group(1)
            if parameter not in order:
                order.append(parameter)
            return f"${order.index(parameter) + 1}"

        body = _BIND.sub(number, sql.strip())
        unknown = set(order) - set(types)
        if unknown:
            raise ValueError(f"{name}: no type for {sorted(unknown)}")
        self.name = name
        self.parameters = tuple(order)
        # psycopg2 formats the EXECUTE with its arguments (hence '%%'); the PREPARE is sent
        # without arguments, so psycopg2 leaves its text alone.
        typed = f" ({', '.join(types[p] for p in order)})" if order else ""
        self.prepare_sql = f"PREPARE {name}{typed} AS {body}"
        placeholders = ", ".join("%s" for _ in order)
        self.execute_sql = prefix.replace("%", "%%") + (f"EXECUTE {name} ({placeholders})" if order else f"EXECUTE {name}")
        self._row_classes = _RowClasses(name)

    def execute(self, executor, params):
        """Run on a Session (in its transaction) or a Connection, preparing first on a
        database connection that has not seen this statement."""
        arguments = tuple(params[p] for p in self.parameters)
        return self._row_classes.rows(_run(executor, self.execute_sql, arguments, (self.name, self.prepare_sql)))


class Rows:
    """A prepared statement's result, fetched at once: rows with attribute access by column
    name, and the subset of SQLAlchemy's ``Result`` methods the services use."""

    __slots__ = ("_rows",)

    def __init__(self, rows):
        self._rows = rows

    def all(self):
        return self._rows

    def first(self):
        return self._rows[0] if self._rows else None

    def one_or_none(self):
        if len(self._rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when one or none was required")
        return self.first()

    def one(self):
        if not self._rows:
            raise NoResultFound("No row was found when one was required")
        return self.one_or_none()

    def scalar_one(self):
        return self.one()[0]

    def scalars(self):
        """The first column of every row."""
        return Rows([row[0] for row in self._rows])

    def scalar_one_or_none(self):
        row = self.one_or_none()
        return None if row is None else row[0]

    def mappings(self):
        """The rows as dicts keyed by column name."""
        return Rows([row._asdict() for row in self._rows])
