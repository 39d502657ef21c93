"""Server-side prepared statements for the purchase hot path (docs/decisions/0017).

psycopg2 sends every statement as text, so PostgreSQL parses and plans it every time; during
a rush pg_stat_statements put planning at ~40 % of the statements' time on the database
(1.6 ms of planning per purchase against 2.2 ms of execution), most of it for the few large
CTEs that claim, pay and issue. A :class:`Prepared` statement is ``PREPARE``\\ d once per
database connection, the first time that connection runs it, and then sent as a short
``EXECUTE name(...)``: PostgreSQL plans it a few times and then reuses a generic plan.

The SQL stays where it is read, in its service, with ``:named`` parameters; each names its
parameters' types (a prepared statement's parameters are typed once, not per call).

Why lazily, per connection: prepared statements live as long as the database session that
made them (a ROLLBACK does not undo a PREPARE), so the names prepared on a connection are
kept in its pool record's ``info`` (``PoolProxiedConnection.info``), which SQLAlchemy clears
when it replaces the connection.

Poolers: SQL-level ``PREPARE``/``EXECUTE`` statements belong to one server session. A pooler
in *transaction* mode hands each transaction whichever server connection is free, so the
``EXECUTE`` may land where the ``PREPARE`` never ran. No PgBouncer version fixes that:
PgBouncer 1.21+ tracks *protocol-level* prepared statements (Parse/Bind), not SQL ``PREPARE``.
The app connects to PostgreSQL directly, or through a pooler in *session* mode
(deploy/README.md).

Everything here is public SQLAlchemy: each statement runs with
``Connection.exec_driver_sql`` on the session's connection, inside its transaction, so a
DBAPI error is translated, the engine's ``handle_error`` listeners run (the lost-connection
retry of decision 0016) and a dead connection is invalidated, as for any other statement.
"""
import re

_BIND = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")
_NAME = re.compile(r"[a-z_][a-z0-9_]*")
#: Send a statement with no parameters as it is: psycopg2 would read its ``%`` (modulo) as a
#: placeholder if SQLAlchemy passed it an empty parameter collection.
_VERBATIM = {"no_parameters": True}


def _connection_of(executor):
    """The SQLAlchemy connection to run on: a session's (beginning its transaction, as
    ``Session.execute`` would), or the Connection itself."""
    if hasattr(executor, "get_bind"):
        return executor.connection()
    return executor


class Prepared:
    """One statement: ``execute(session_or_connection, params)`` returns its ``CursorResult``."""

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
        # psycopg2 formats a statement sent with arguments (hence '%%' in the EXECUTE's
        # prefix); one sent without (the PREPARE, an EXECUTE with no parameters) is left alone.
        typed = f" ({', '.join(types[p] for p in order)})" if order else ""
        self.prepare_sql = f"PREPARE {name}{typed} AS {body}"
        placeholders = ", ".join("%s" for _ in order)
        self.execute_sql = (
            prefix.replace("%", "%%") + f"EXECUTE {name} ({placeholders})" if order else f"{prefix}EXECUTE {name}"
        )

    def execute(self, executor, params):
        """Run on a Session (in its transaction) or a Connection, preparing first on a
        database connection that has not seen this statement."""
        connection = _connection_of(executor)
        prepared = connection.connection.info.setdefault("prepared_statements", set())
        if self.name not in prepared:
            connection.exec_driver_sql(self.prepare_sql, execution_options=_VERBATIM)
            prepared.add(self.name)
        if not self.parameters:
            return connection.exec_driver_sql(self.execute_sql, execution_options=_VERBATIM)
        return connection.exec_driver_sql(self.execute_sql, tuple(params[p] for p in self.parameters))
