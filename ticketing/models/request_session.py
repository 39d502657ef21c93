"""The request's session class, joined to its request's transaction manager.

zope.sqlalchemy's ``register(session, transaction_manager=...)`` adds seven event listeners
to every new session instance; SQLAlchemy builds a per-instance event dispatcher for that,
which the benchmark's profile put at ~5 % of a purchase's app CPU. Here the same listeners
(same functions from zope.sqlalchemy, same behaviour) are registered once, on a Session
subclass, and each session names its transaction manager in ``session.info["tm"]``.

Every request session starts "changed" (STATUS_CHANGED): the hot paths write with SQL
statements (conditional UPDATEs, INSERT ... SELECT) that zope.sqlalchemy cannot see, and a
write must never be dropped because the ORM did not notice it; committing a read-only
transaction costs the same as rolling it back.
"""
from sqlalchemy import event
from sqlalchemy.orm import Session
from transaction._transaction import Status as TransactionStatus  # as zope.sqlalchemy does
from zope.sqlalchemy.datamanager import STATUS_CHANGED, join_transaction, mark_changed


class RequestSession(Session):
    """A session whose transaction is ``info["tm"]``'s (the request's ``request.tm``)."""


def _tm(session):
    return session.info["tm"]


@event.listens_for(RequestSession, "after_begin")
def _after_begin(session, transaction, connection):
    join_transaction(session, STATUS_CHANGED, _tm(session))
    # The transaction's connection, for statements run on its DBAPI cursor
    # (ticketing/services/prepared.py): asking Session.connection() each time walks the
    # session's state machine, ~6 % of a purchase's app CPU.
    session.info["connection"] = connection


@event.listens_for(RequestSession, "after_transaction_end")
def _after_transaction_end(session, transaction):
    if transaction.parent is None:  # the outermost transaction: its connection goes back
        session.info.pop("connection", None)


@event.listens_for(RequestSession, "after_attach")
def _after_attach(session, instance):
    join_transaction(session, STATUS_CHANGED, _tm(session))


@event.listens_for(RequestSession, "after_flush")
def _after_flush(session, flush_context):
    mark_changed(session, _tm(session))


@event.listens_for(RequestSession, "after_bulk_update")
def _after_bulk_update(update_context):
    mark_changed(update_context.session, _tm(update_context.session))


@event.listens_for(RequestSession, "after_bulk_delete")
def _after_bulk_delete(delete_context):
    mark_changed(delete_context.session, _tm(delete_context.session))


@event.listens_for(RequestSession, "before_commit")
def _before_commit(session):
    # A request's transaction ends through its transaction manager (pyramid_tm), never by a
    # stray session.commit() in request code.
    assert session.in_nested_transaction() or _tm(session).get().status == TransactionStatus.COMMITTING, (
        "Transaction must be committed using the transaction manager"
    )


@event.listens_for(RequestSession, "do_orm_execute")
def _do_orm_execute(execute_state):
    if execute_state.is_orm_statement and (
        execute_state.is_update or execute_state.is_insert or execute_state.is_delete
    ):
        mark_changed(execute_state.session, _tm(execute_state.session))
