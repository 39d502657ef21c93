"""The audit log: who did what to which object, newest first, with filters (an action or a
prefix of actions, the object)."""
from pyramid.view import view_config

from ticketing.resources.admin import AuditLog
from ticketing.services import audit

from ticketing.problems import field_error

from .forms import int_field, keyset_paged, text_field

TARGET_ROUTES = {"match": ("admin.match", "match_id"), "stadium": ("admin.stadium", "stadium_id"),
                 "order": ("admin.order", "order_id"), "user": ("admin.user", "user_id")}


def audit_filters(request, errors):
    """The log's filters from the query string, as ``audit.search`` takes them, each bad one
    named in ``errors`` (the CSV export reads them here too). An action such as ``match.`` or
    ``match`` (no dot, so not a whole action name) is a prefix: everything under it."""
    action = text_field(request.GET, "action", 60)
    target_type = text_field(request.GET, "target_type", 30)
    target_id = int_field(request.GET, "target_id", errors, required=False, minimum=1, label="an object number")
    if target_type and target_type not in TARGET_ROUTES:
        errors.append(field_error("target_type", "must be one of " + ", ".join(TARGET_ROUTES)))
    prefix = action if action.endswith(".") or (action and "." not in action) else None
    return {"action": None if prefix else action or None, "action_prefix": prefix,
            "target_type": target_type or None, "target_id": target_id}


@view_config(route_name="admin.audit", context=AuditLog, permission="audit:view",
             request_method="GET", renderer="admin/audit/list.jinja2")
def audit_log(context, request):
    """Filter by action (a whole name, or a prefix such as ``match.``), object type and id;
    keyset pages that keep the filter (decision 0038)."""
    action = text_field(request.GET, "action", 60)
    target_type = text_field(request.GET, "target_type", 30)
    errors = []
    filters = audit_filters(request, errors)
    target_id = filters["target_id"]
    rows, pager = [], None
    if errors:
        request.response.status = 400
    else:
        rows, pager = keyset_paged(request, lambda size, after, before: audit.search(
            request.dbsession, size=size, after=after, before=before, **filters), size=50)
    links = {}
    for entry, _email in rows:
        if entry.target_type in TARGET_ROUTES and entry.target_id is not None:
            route, key = TARGET_ROUTES[entry.target_type]
            links[entry.id] = request.route_path(route, **{key: entry.target_id})
    return {"entries": rows, "pager": pager, "action": action, "target_type": target_type,
            "target_id": target_id or request.GET.get("target_id", "")[:20], "links": links,
            "errors": {error["field"]: error["message"] for error in errors},
            "filtered": bool(action or target_type or target_id)}
