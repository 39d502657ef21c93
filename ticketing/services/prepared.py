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
"""
import re

from sqlalchemy import text

_BIND = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")
_NAME = re.compile(r"[a-z_][a-z0-9_]*")


class Prepared:
    """One statement: ``execute(connection_or_session, params)`` returns its result."""

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
        self.prepare_sql = f"PREPARE {name} ({', '.join(types[p] for p in order)}) AS {body}"
        arguments = ", ".join(f":{p}" for p in order)
        self.statement = text(f"{prefix}EXECUTE {name} ({arguments})" if order else f"{prefix}EXECUTE {name}")

    def execute(self, executor, params):
        """Run on a Session or a Connection, preparing first on a connection that has not."""
        connection = executor.connection() if hasattr(executor, "get_bind") else executor
        pooled = connection.connection  # the pool's proxy of the DBAPI connection
        prepared = pooled.info.setdefault("prepared_statements", set())
        if self.name not in prepared:
            # Through SQLAlchemy, so a dead connection is noticed and handled like any other
            # statement's (decision 0016); psycopg2 formats the text, hence '%%'.
            connection.exec_driver_sql(self.prepare_sql.replace("%", "%%"))
            prepared.add(self.name)
        return executor.execute(self.statement, {p: params[p] for p in self.parameters})
