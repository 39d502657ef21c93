"""Recording and reading staff actions (publish, seating, blocks, refunds, role changes...)."""
from sqlalchemy import select

from ticketing.models import AuditEntry, User
from ticketing.services import keyset
from ticketing.services.stadiums import escape_like


def record(dbsession, actor_id, action, target_type, target_id=None, **details):
    """Append one entry in the caller's transaction (it commits or aborts with the action)."""
    entry = AuditEntry(actor_id=actor_id, action=action, target_type=target_type,
                       target_id=target_id, details=details)
    dbsession.add(entry)
    dbsession.flush()
    return entry


def _filtered(query, action=None, action_prefix=None, target_type=None, target_id=None, actor_id=None):
    """The filters every reading of the log shares."""
    if action:
        query = query.where(AuditEntry.action == action)
    if action_prefix:
        # A prefix LIKE, answered by the (action text_pattern_ops, id) index (migration 0009).
        query = query.where(AuditEntry.action.like(escape_like(action_prefix) + "%", escape="\\"))
    if target_type:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id is not None:
        query = query.where(AuditEntry.target_id == target_id)
    if actor_id is not None:
        query = query.where(AuditEntry.actor_id == actor_id)
    return query


def _with_actor():
    return select(AuditEntry, User.email).outerjoin(User, User.id == AuditEntry.actor_id)


def search(dbsession, *, size, after=None, before=None, **filters):
    """One keyset page of entries, newest first, with the actor's e-mail (services/keyset.py)."""
    return keyset.fetch(dbsession, _filtered(_with_actor(), **filters), AuditEntry.id, size=size,
                        after=after, before=before, key=lambda row: row[0].id, scalars=False)


def entries_query(**filters):
    """(entry, actor e-mail) rows the log's filters select, unordered: the CSV export reads
    the same selection as the page (``search``)."""
    return _filtered(_with_actor(), **filters)
