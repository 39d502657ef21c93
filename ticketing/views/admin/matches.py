"""Matches: list with filters, schedule and edit, price categories, the seating plan, and the
life cycle (publish, close, cancel with refunds after a confirmation step)."""
from datetime import datetime, time

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config

from ticketing.models.match import MATCH_STATUSES
from ticketing.problems import Problem, ValidationFailed, field_error
from ticketing.resources.admin import AdminMatch, Matches
from ticketing.services import audit, matches, orders, sales, seat_map, stadiums

from .forms import (
    FormErrors, datetime_field, flash, int_field, local_zone, money_field, paged, rejected,
    require_valid, row_labels, text_field,
)
from .pictures import match_picture
from .plans import Plan, select_seats

MATCH_FIELDS = ("stadium_id", "home_team", "away_team", "starts_at", "sales_open_at", "sales_close_at",
                "refund_cutoff_at", "hold_seconds", "max_tickets_per_fan")
TIME_FIELDS = ("starts_at", "sales_open_at", "sales_close_at", "refund_cutoff_at")
ASSIGN_ALIASES = (("assignments/*/section_id", "section_id"), ("assignments/*/rows", "rows"),
                  ("assignments/*/category_id", "category_id"))
BLOCK_ALIASES = (("blocked/*/section_id", "section_id"), ("blocked/*/row", "row"), ("blocked/*/to", "to"),
                 ("blocked/*/from", "from"), ("blocked/*/reason", "reason"))


def _stadium_options(request):
    rows, _ = stadiums.list_stadiums(request.dbsession, 500, 0)
    return [(stadium.id, f"{stadium.name} ({stadium.city})") for stadium in rows]


def _failed(request, problem, route, **kw):
    """An action outside a form failed: keep nothing, say why, go back."""
    request.tm.doom()
    flash(request, problem.detail, "error")
    return HTTPSeeOther(request.route_url(route, **kw))


# --- list --------------------------------------------------------------------------------

@view_config(route_name="admin.matches", context=Matches, permission="match:view",
             request_method="GET", renderer="admin/matches/list.jinja2")
def list_matches(context, request):
    params = request.GET
    zone = local_zone(request)
    errors = []
    filters = {
        "team": text_field(params, "team", 100),
        "status": params.get("status") if params.get("status") in MATCH_STATUSES else "",
        "stadium_id": int_field(params, "stadium_id", errors, required=False, minimum=1),
    }
    date_from = date_to = None
    for name in ("from", "to"):
        raw = text_field(params, name, 10)
        try:
            day = datetime.strptime(raw, "%Y-%m-%d").date() if raw else None
        except ValueError:
            day = None
        filters[name] = day.isoformat() if day else ""
        if day and name == "from":
            date_from = datetime.combine(day, time.min, zone)
        elif day:
            date_to = datetime.combine(day, time.max, zone)
    rows, pager = paged(request, lambda limit, offset: matches.list_matches(
        request.dbsession, limit=limit, offset=offset, public_only=False, date_from=date_from, date_to=date_to,
        team=filters["team"] or None, stadium_id=filters["stadium_id"], status=filters["status"] or None))
    ids = [row.id for row in rows]
    return {
        "matches": rows,
        "pager": pager,
        "filters": filters,
        "statuses": MATCH_STATUSES,
        "stadium_options": _stadium_options(request),
        "seats": seat_map.summaries(request.dbsession, ids),
        "revenue": sales.revenue_by_match(request.dbsession, ids),
    }


# --- create and edit -----------------------------------------------------------------------

def _match_data(request, params):
    """Form fields -> the values ``create_match``/``update_match`` take (times made aware)."""
    errors = []
    zone = local_zone(request)
    data = {
        "stadium_id": int_field(params, "stadium_id", errors, minimum=1),
        "home_team": text_field(params, "home_team", 120),
        "away_team": text_field(params, "away_team", 120),
        "hold_seconds": int_field(params, "hold_seconds", errors),
        "max_tickets_per_fan": int_field(params, "max_tickets_per_fan", errors),
    }
    for name in TIME_FIELDS:
        data[name] = datetime_field(params, name, errors, zone, required=name == "starts_at")
    require_valid(errors, "The match is not valid.")
    return data


def _form_values(params):
    return {name: params.get(name, "") for name in MATCH_FIELDS}


@view_config(route_name="admin.matches.new", context=Matches, permission="match:edit",
             request_method="GET", renderer="admin/matches/form.jinja2")
def new_match_form(context, request):
    values = {"stadium_id": request.GET.get("stadium_id", ""), "hold_seconds": str(matches.DEFAULT_HOLD_SECONDS),
              "max_tickets_per_fan": str(matches.DEFAULT_MAX_TICKETS)}
    return {"match": None, "values": values, "stadium_options": _stadium_options(request)}


@view_config(route_name="admin.matches.new", context=Matches, permission="match:edit",
             request_method="POST", renderer="admin/matches/form.jinja2")
def create_match(context, request):
    try:
        data = {key: value for key, value in _match_data(request, request.POST).items() if value is not None}
        match = matches.create_match(request.dbsession, data)
        audit.record(request.dbsession, request.identity.id, "match.create", "match", match.id,
                     home_team=match.home_team, away_team=match.away_team)
    except Problem as problem:
        return {"match": None, "values": _form_values(request.POST), "stadium_options": _stadium_options(request),
                "errors": rejected(request, problem, fields=MATCH_FIELDS)}
    flash(request, f"{match.home_team} – {match.away_team} scheduled as a draft. Add price categories and seating next.")
    return HTTPSeeOther(request.route_url("admin.match", match_id=match.id))


@view_config(route_name="admin.match.edit", context=AdminMatch, permission="match:edit",
             request_method="GET", renderer="admin/matches/form.jinja2")
def edit_match_form(context, request):
    return {"match": context.match, "values": {}, "stadium_options": _stadium_options(request)}


@view_config(route_name="admin.match.edit", context=AdminMatch, permission="match:edit",
             request_method="POST", renderer="admin/matches/form.jinja2")
def update_match(context, request):
    match = context.match
    try:
        data = _match_data(request, request.POST)
        # Only what the form changed: an untouched kick-off is not re-checked against "now".
        changes = {key: value for key, value in data.items()
                   if value is not None and value != getattr(match, key)}
        if changes:
            matches.update_match(request.dbsession, match, changes)
            audit.record(request.dbsession, request.identity.id, "match.update", "match", match.id,
                         fields=sorted(changes))
    except Problem as problem:
        errors = rejected(request, problem, fields=MATCH_FIELDS)
        request.dbsession.expire(match)
        return {"match": match, "values": _form_values(request.POST), "stadium_options": _stadium_options(request),
                "errors": errors}
    flash(request, "Match saved." if changes else "Nothing changed.")
    return HTTPSeeOther(request.route_url("admin.match", match_id=match.id))


# --- the match page: overview, categories, seating ------------------------------------------

def seat_states(request, match):
    """{seat_id: (category_id, status)} for the picture.

    A published match reads the statuses by the seat map's own query (live statuses, lapsed
    holds shown as available), not by parsing its body (decision 0060: 10,000 seats). A draft
    reads its plan directly (a plan has no live statuses to share).
    """
    if match.status == "draft":
        return {seat_id: (category_id, "blocked" if reason else "available")
                for seat_id, category_id, reason in matches.seating_plan(request.dbsession, match.id)}
    return seat_map.statuses(request.dbsession, match.id)


def match_page(request, match, forms=None, values=None):
    dbsession = request.dbsession
    categories = matches.categories(dbsession, match.id)
    sections = list(match.stadium.sections)
    layout = stadiums.layout(dbsession, match.stadium_id)
    return {
        "match": match,
        "categories": categories,
        "sections": sections,
        "picture": match_picture(layout, sections, seat_states(request, match), categories),
        "seats": seat_map.summaries(dbsession, [match.id])[match.id],
        "seating": matches.seating_summary(dbsession, match.id),
        "revenue": sales.revenue_by_match(dbsession, [match.id])[match.id],
        "block_reasons": matches.BLOCK_REASONS,
        "forms": forms or {},
        "values": values or {},
    }


@view_config(route_name="admin.match", context=AdminMatch, permission="match:view",
             request_method="GET", renderer="admin/matches/detail.jinja2")
def match_detail(context, request):
    return match_page(request, context.match)


@view_config(route_name="admin.match.categories", context=AdminMatch, permission="match:edit",
             request_method="POST", renderer="admin/matches/detail.jinja2")
def add_category(context, request):
    match = context.match
    values = {"name": text_field(request.POST, "name", 80), "price": text_field(request.POST, "price", 20)}
    try:
        errors = []
        price = money_field(request.POST, "price", errors)
        require_valid(errors, "The price category is not valid.")
        category = matches.add_category(request.dbsession, match, values["name"], price,
                                        request.registry.settings["ticketing.currency"])
        audit.record(request.dbsession, request.identity.id, "match.category_create", "match", match.id,
                     category_id=category.id, name=category.name, price=category.price)
    except Problem as problem:
        errors = rejected(request, problem, fields=("name", "price"))
        return match_page(request, match, {"category": errors}, {"category": values})
    flash(request, f"Category “{category.name}” added.")
    return HTTPSeeOther(request.route_url("admin.match", match_id=match.id, _anchor="categories"))


@view_config(route_name="admin.match.seating", context=AdminMatch, permission="match:edit",
             request_method="POST", renderer="admin/matches/detail.jinja2")
def change_seating(context, request):
    """One step of the draft plan: assign (or remove) seats, block seats, or start over."""
    match = context.match
    params = request.POST
    action = params.get("action")
    form = {"assign": "assign", "block": "block"}.get(action, "assign")
    values = {name: text_field(params, name, 200)
              for name in ("section_id", "rows", "category_id", "row", "from", "to", "reason")}
    try:
        # The plan is read, changed and saved whole: lock the match before the read, so that a
        # concurrent edit is read here rather than overwritten.
        match = matches.lock_match(request.dbsession, match.id)
        plan = Plan(matches.seating_plan(request.dbsession, match.id))
        assignments, blocked = plan.assignments(), plan.blocked()
        errors = []
        if action == "clear":
            assignments, blocked, message = [], [], "Seating plan cleared."
        elif action == "assign":
            section_id = int_field(params, "section_id", errors, minimum=1)
            category_id = int_field(params, "category_id", errors, required=False, minimum=1)
            rows = row_labels(values["rows"])
            require_valid(errors, "The assignment is not valid.")
            if category_id is None:
                sections = list(match.stadium.sections)
                layout = stadiums.layout(request.dbsession, match.stadium_id, section_id)
                plan.remove_from_sale(select_seats(layout, sections, section_id, rows))
                assignments = plan.assignments()
                message = "Seats taken off sale."
            else:
                rule = {"section_id": section_id, "category_id": category_id}
                if rows:
                    rule["rows"] = rows
                assignments.append(rule)
                message = "Seats assigned."
        elif action == "block":
            section_id = int_field(params, "section_id", errors, minimum=1)
            first = int_field(params, "from", errors, required=False, minimum=1)
            last = int_field(params, "to", errors, required=False, minimum=1)
            if (first is not None or last is not None) and not values["row"]:
                # Without a row the range would be dropped and the whole section blocked.
                errors.append(field_error("row", "give the row of the seats from/to"))
            require_valid(errors, "The block is not valid.")
            rule = {"section_id": section_id, "reason": values["reason"] or "other"}
            if values["row"]:
                rule["row"] = values["row"]
                if first is not None:
                    rule["from"] = first
                if last is not None:
                    rule["to"] = last
            blocked.append(rule)
            message = "Seats blocked."
        else:
            return HTTPSeeOther(request.route_url("admin.match", match_id=match.id))
        summary = matches.replace_seating(request.dbsession, match, assignments, blocked)
        audit.record(request.dbsession, request.identity.id, "match.seating", "match", match.id,
                     step=action, on_sale=summary["on_sale"], blocked=summary["blocked"],
                     **{key: value for key, value in values.items() if value})
    except Problem as problem:
        aliases = BLOCK_ALIASES if form == "block" else ASSIGN_ALIASES
        errors = rejected(request, problem, aliases, fields=tuple(values) + ("rows",))
        request.dbsession.expire(match)
        return match_page(request, match, {form: errors}, {form: values})
    flash(request, f"{message} {summary['on_sale']} seats on sale, {summary['blocked']} blocked.")
    return HTTPSeeOther(request.route_url("admin.match", match_id=match.id, _anchor="seating"))


# --- life cycle -------------------------------------------------------------------------------

@view_config(route_name="admin.match.publish", context=AdminMatch, permission="match:edit", request_method="POST")
def publish(context, request):
    try:
        match = matches.publish(request.dbsession, context.match)
        audit.record(request.dbsession, request.identity.id, "match.publish", "match", match.id)
    except Problem as problem:
        return _failed(request, problem, "admin.match", match_id=context.match.id)
    on_sale = seat_map.summaries(request.dbsession, [match.id])[match.id]
    flash(request, f"Published: {on_sale['available']} seats on sale, {on_sale['blocked']} blocked.")
    return HTTPSeeOther(request.route_url("admin.match", match_id=match.id))


@view_config(route_name="admin.match.close", context=AdminMatch, permission="match:edit", request_method="POST")
def close(context, request):
    try:
        match = matches.close_sales(request.dbsession, context.match)
        audit.record(request.dbsession, request.identity.id, "match.close", "match", match.id)
    except Problem as problem:
        return _failed(request, problem, "admin.match", match_id=context.match.id)
    flash(request, "Sales closed.")
    return HTTPSeeOther(request.route_url("admin.match", match_id=match.id))


def _cancel_page(request, match, errors=None):
    return {
        "match": match,
        "paid_orders": orders.list_orders(request.dbsession, match_id=match.id, status="paid", limit=1)[1],
        "revenue": sales.revenue_by_match(request.dbsession, [match.id])[match.id],
        "errors": errors or FormErrors(),
    }


@view_config(route_name="admin.match.cancel", context=AdminMatch, permission="match:edit",
             request_method="GET", renderer="admin/matches/cancel.jinja2")
def cancel_confirmation(context, request):
    return _cancel_page(request, context.match)


@view_config(route_name="admin.match.cancel", context=AdminMatch, permission="match:edit",
             request_method="POST", renderer="admin/matches/cancel.jinja2")
def cancel(context, request):
    match = context.match
    if request.POST.get("confirm") != "yes":
        problem = ValidationFailed("Confirm the cancellation first.",
                                   errors=[field_error("confirm", "must be ticked to cancel the match")])
        return {**_cancel_page(request, match), "errors": rejected(request, problem, fields=("confirm",))}
    try:
        match, refunded = orders.cancel_match(request.dbsession, match, request.identity.id)
        audit.record(request.dbsession, request.identity.id, "match.cancel", "match", match.id,
                     refunded_orders=refunded)
    except Problem as problem:
        return _failed(request, problem, "admin.match", match_id=context.match.id)
    flash(request, f"Match cancelled; {refunded} order(s) refunded to the fans' wallets.")
    return HTTPSeeOther(request.route_url("admin.match", match_id=match.id))
