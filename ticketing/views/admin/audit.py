"""The audit log: who did what to which object, newest first, with filters."""
from pyramid.view import view_config

from ticketing.resources.admin import AuditLog
from ticketing.services import audit

from .forms import int_field, paged, text_field

TARGET_ROUTES = {"match": ("admin.match", "match_id"), "stadium": ("admin.stadium", "stadium_id"),
                 "order": ("admin.order", "order_id"), "user": ("admin.user", "user_id")}


def audit_filters(request):
    """The log's filters from the query string (the CSV export reads them here too)."""
    action = text_field(request.GET, "action", 60)
    target_type = text_field(request.GET, "target_type", 30)
    target_id = int_field(request.GET, "target_id", [], required=False, minimum=1)
    return {"action": action or None, "target_type": target_type or None, "target_id": target_id}


@view_config(route_name="admin.audit", context=AuditLog, permission="audit:view",
             request_method="GET", renderer="admin/audit/list.jinja2")
def audit_log(context, request):
    filters = audit_filters(request)
    action, target_type, target_id = filters["action"] or "", filters["target_type"] or "", filters["target_id"]
    rows, pager = paged(request, lambda limit, offset: audit.entries(
        request.dbsession, limit=limit, offset=offset, **filters), size=50)
    links = {}
    for entry, _email in rows:
        if entry.target_type in TARGET_ROUTES and entry.target_id is not None:
            route, key = TARGET_ROUTES[entry.target_type]
            links[entry.id] = request.route_path(route, **{key: entry.target_id})
    return {"entries": rows, "pager": pager, "action": action, "target_type": target_type,
            "target_id": target_id or "", "links": links}
