"""A match's live seat map, and blocking or unblocking seats from it.

The picture is drawn from the same seat-map body fans poll (so staff see what fans see), and
``static/admin/seatmap.js`` keeps it current by polling the API's seat map with its ETag.
Toggling blocks goes through the services: on a draft it is a step of the seating plan, on a
match on sale it is :func:`ticketing.services.matches.set_blocked`, which never touches a seat
a fan holds or bought.
"""
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config

from ticketing.problems import Conflict, Problem, field_error
from ticketing.resources.admin import AdminMatch
from ticketing.services import audit, matches, stadiums

from .forms import flash, id_list, int_field, rejected, require_valid, text_field
from .matches import seat_states
from .pictures import match_picture
from .plans import Plan, select_seats

BLOCK_FIELDS = ("seat_ids", "section_id", "row", "from", "to", "reason")


def _page(request, match, errors=None, values=None):
    categories = matches.categories(request.dbsession, match.id)
    sections = list(match.stadium.sections)
    layout = stadiums.layout(request.dbsession, match.stadium_id)
    result = {
        "match": match,
        "categories": categories,
        "sections": sections,
        "picture": match_picture(layout, sections, seat_states(request, match), categories),
        "block_reasons": matches.BLOCK_REASONS,
        "editable": match.status in ("draft", "on_sale"),
        "live_url": request.route_path("api.match.seats", match_id=match.id) if match.status != "draft" else None,
        "values": values or {},
    }
    if errors is not None:
        result["errors"] = errors
    return result


@view_config(route_name="admin.match.seats", context=AdminMatch, permission="match:view",
             request_method="GET", renderer="admin/matches/seats.jinja2")
def seat_map_page(context, request):
    return _page(request, context.match)


def _chosen_seats(request, match):
    params = request.POST
    seat_ids = id_list(params.get("seat_ids"))
    if seat_ids:
        return seat_ids
    errors = []
    section_id = int_field(params, "section_id", errors, minimum=1)
    first = int_field(params, "from", errors, required=False, minimum=1)
    last = int_field(params, "to", errors, required=False, minimum=1)
    row = text_field(params, "row", 20)
    if (first is not None or last is not None) and not row:
        # Without a row the range would be dropped and the whole section chosen.
        errors.append(field_error("row", "give the row of the seats from/to"))
    require_valid(errors, "Click seats on the map, or give a section (and a row and seat range).")
    layout = stadiums.layout(request.dbsession, match.stadium_id, section_id)
    return select_seats(layout, match.stadium.sections, section_id, [row] if row else None,
                        first if row else None, last if row else None)


@view_config(route_name="admin.match.blocks", context=AdminMatch, permission="match:edit",
             request_method="POST", renderer="admin/matches/seats.jinja2")
def toggle_blocks(context, request):
    match = context.match
    blocking = request.POST.get("action") != "unblock"
    reason = text_field(request.POST, "reason", 40) or "other"
    values = {name: text_field(request.POST, name, 2000) for name in BLOCK_FIELDS}
    try:
        seat_ids = _chosen_seats(request, match)
        # Locked before the plan is read and before the status decides the branch: a draft's
        # plan is read, changed and saved whole, so a concurrent edit must come before the
        # read, not between the read and the save (it would be overwritten).
        match = matches.lock_match(request.dbsession, match.id)
        if match.status == "on_sale":
            changed = matches.set_blocked(request.dbsession, match, seat_ids, blocking,
                                          reason if blocking else None, actor_id=request.identity.id)
        elif match.status == "draft":
            plan = Plan(matches.seating_plan(request.dbsession, match.id))
            was_blocked = {seat for ids in plan.blocks.values() for seat in ids}
            if blocking:
                plan.block(seat_ids, reason)
                changed = sorted(set(seat_ids) - was_blocked)
            else:
                plan.unblock(seat_ids)
                changed = sorted(set(seat_ids) & was_blocked)
            matches.replace_seating(request.dbsession, match, plan.assignments(), plan.blocked())
            audit.record(request.dbsession, request.identity.id, "match.block" if blocking else "match.unblock",
                         "match", match.id, seats=len(changed), seat_ids=changed[:200],
                         reason=reason if blocking else None)
        else:
            raise Conflict(f"Seats of a {match.status.replace('_', ' ')} match cannot be blocked or unblocked.")
    except Problem as problem:
        errors = rejected(request, problem, fields=BLOCK_FIELDS)
        request.dbsession.expire(match)
        return _page(request, match, errors, values)
    verb = "Blocked" if blocking else "Unblocked"
    skipped = len(seat_ids) - len(changed)
    message = f"{verb} {len(changed)} seat(s)."
    if skipped:
        message += f" {skipped} left as they were ({'held, sold or already blocked' if blocking else 'not blocked or never on sale'})."
    flash(request, message, "success" if changed else "error")
    return HTTPSeeOther(request.route_url("admin.match.seats", match_id=match.id))
