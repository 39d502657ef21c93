"""Recording and reading staff actions (publish, seating, blocks, refunds, role changes...)."""
from sqlalchemy import func, select

from ticketing.models import AuditEntry, User


def record(dbsession, actor_id, action, target_type, target_id=None, **details):
    """Append one entry in the caller's transaction (it commits or aborts with the action)."""
    entry = AuditEntry(actor_id=actor_id, action=action, target_type=target_type,
                       target_id=target_id, details=details)
    dbsession.add(entry)
    dbsession.flush()
    return entry


def entries(dbsession, *, limit=50, offset=0, action=None, target_type=None, target_id=None, actor_id=None):
    """Newest first, with the actor's e-mail; returns (rows, total)."""
    query = entries_query(action=action, target_type=target_type, target_id=target_id, actor_id=actor_id)
    total = dbsession.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = dbsession.execute(query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)).all()
    return rows, total


def entries_query(*, action=None, target_type=None, target_id=None, actor_id=None):
    """(entry, actor e-mail) rows the log's filters select (the page and its CSV share it)."""
    query = select(AuditEntry, User.email).outerjoin(User, User.id == AuditEntry.actor_id)
    if action:
        query = query.where(AuditEntry.action == action)
    if target_type:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id is not None:
        query = query.where(AuditEntry.target_id == target_id)
    if actor_id is not None:
        query = query.where(AuditEntry.actor_id == actor_id)
    return query
