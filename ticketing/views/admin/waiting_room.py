"""A match's waiting room for staff: its settings, the pause and resume controls, and the live
figures with a chart of the last hour, refreshed in place (static/admin/live.js)."""
from datetime import datetime, timezone

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config

from ticketing.problems import Problem
from ticketing.resources.admin import AdminMatch
from ticketing.services import audit, waiting_room

from .forms import FormErrors, datetime_field, flash, int_field, local_zone, rejected, require_valid
from .pictures import queue_chart

FIELDS = ("mode", "admit_per_minute", "max_shopping", "shopping_minutes", "opens_at")


def _now():
    return datetime.now(timezone.utc)


def page(request, match, errors=None, values=None):
    now = _now()
    room = waiting_room.get_room(request.dbsession, match.id)
    status = waiting_room.status(request.dbsession, match.id, now) if room else {"state": "off"}
    figures = waiting_room.figures(request.dbsession, match.id, now) if room else None
    return {
        "match": match, "room": room, "status": status, "figures": figures,
        "chart": queue_chart(figures["history"]) if figures else None,
        "errors": errors or FormErrors(None), "values": values or {}, "zone": local_zone(request),
    }


@view_config(route_name="admin.match.waiting_room", context=AdminMatch, permission="match:edit",
             request_method="GET", renderer="admin/matches/waiting_room.jinja2")
def waiting_room_page(context, request):
    request.response.headers["Cache-Control"] = "no-store"
    if request.GET.get("live"):  # the figures and chart only, for live.js to swap in
        request.override_renderer = "admin/matches/waiting_room_live.jinja2"
    return page(request, context.match)


def _settings(request, errors):
    params = request.POST
    zone = local_zone(request)
    mode = params.get("mode")
    if mode not in ("fixed", "adaptive"):
        errors.append({"field": "mode", "message": "must be fixed or adaptive"})
    return {
        "enabled": params.get("enabled") == "on",
        "mode": mode,
        "admit_per_minute": int_field(params, "admit_per_minute", errors, minimum=1, maximum=100000),
        "max_shopping": int_field(params, "max_shopping", errors, minimum=1, maximum=100000),
        "shopping_seconds": (int_field(params, "shopping_minutes", errors, minimum=1, maximum=120) or 0) * 60,
        "opens_at": datetime_field(params, "opens_at", errors, zone, required=False),
    }


@view_config(route_name="admin.match.waiting_room", context=AdminMatch, permission="match:edit",
             request_method="POST", renderer="admin/matches/waiting_room.jinja2")
def change_waiting_room(context, request):
    match = context.match
    action = request.POST.get("action")
    try:
        if action in ("pause", "resume"):
            changes = {"paused": action == "pause"}
        else:
            errors = []
            changes = _settings(request, errors)
            require_valid(errors, "The waiting room's settings are not valid.")
        waiting_room.configure(request.dbsession, match, changes, _now())
        audit.record(request.dbsession, request.identity.id, "match.waiting_room", "match", match.id,
                     **{key: value.isoformat() if isinstance(value, datetime) else value
                        for key, value in changes.items()})
    except Problem as problem:
        errors = rejected(request, problem, aliases=(("shopping_seconds", "shopping_minutes"),), fields=FIELDS)
        return page(request, match, errors, dict(request.POST))
    flash(request, {"pause": "The waiting room is paused: nobody new is called.",
                    "resume": "The waiting room is calling fans again."}.get(action, "Waiting room saved."))
    return HTTPSeeOther(request.route_url("admin.match.waiting_room", match_id=match.id))
