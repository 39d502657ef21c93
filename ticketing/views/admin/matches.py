"""Matches: list with filters, schedule and edit, price categories, the seating plan, and the
life cycle (publish, close, cancel with refunds after a confirmation step)."""
from datetime import datetime, time

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from ticketing.models import PriceCategory
from ticketing.models.match import MATCH_STATUSES
from ticketing.problems import Problem, ValidationFailed, field_error
from ticketing.resources import is_decimal
from ticketing.resources.admin import AdminMatch, Matches
from ticketing.services import audit, mail, matches, orders, sales, seat_map, stadiums

from .forms import (
    STATUS_LABELS, FormErrors, TemplateHelpers, all_errors, datetime_field, flash, int_field, local_zone, money_field,
    paged, rejected, require_valid, row_labels, text_field,
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
    return data, errors


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
        data, form_errors = _match_data(request, request.POST)
        data = {key: value for key, value in data.items() if value is not None}
        match = all_errors(form_errors, lambda: matches.create_match(request.dbsession, data),
                           "The match is not valid.")
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
        data, form_errors = _match_data(request, request.POST)
        # Only what the form changed: an untouched kick-off is not re-checked against "now".
        changes = {key: value for key, value in data.items()
                   if value is not None and value != getattr(match, key)}
        moved = matches.moved_deadlines(match, changes.get("starts_at"), changes)
        if form_errors:
            all_errors(form_errors, lambda: matches.update_match(request.dbsession, match, changes),
                       "The match is not valid.")
        # The confirmation names the kick-off it was shown for: a time changed again after the
        # warning warns again.
        if moved and request.POST.get("confirm_reschedule") != request.POST.get("starts_at"):
            # Fans who paid bought a ticket for the old time: name them before anything moves.
            paid, paid_total = matches.paid_orders_of(request.dbsession, match.id)
            if paid_total:
                request.tm.doom()
                return {"match": match, "values": _form_values(request.POST),
                        "stadium_options": _stadium_options(request),
                        "reschedule": {"orders": paid, "total": paid_total, "moved": moved,
                                       "starts_at": changes["starts_at"]}}
        if changes:
            matches.update_match(request.dbsession, match, changes)
            audit.record(request.dbsession, request.identity.id, "match.update", "match", match.id,
                         fields=sorted(set(changes) | set(moved)))
    except Problem as problem:
        errors = rejected(request, problem, fields=MATCH_FIELDS)
        request.dbsession.expire(match)
        return {"match": match, "values": _form_values(request.POST), "stadium_options": _stadium_options(request),
                "errors": errors}
    message = "Match saved." if changes else "Nothing changed."
    if moved:
        helpers = TemplateHelpers(request)
        message += " Sales close and the refund cutoff moved with the kick-off, to " + " and ".join(
            helpers.when(getattr(match, field)) for field in matches.MOVES_WITH_KICK_OFF if field in moved) + "."
    flash(request, message)
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
        # Mail to the ticket holders when the match was cancelled or moved, and how far it got.
        "notices": mail.campaign_progress(dbsession, match.id),
        "block_reasons": matches.BLOCK_REASONS,
        "forms": forms or {},
        "values": values or {},
        "now": matches.utcnow(),
    }


@view_config(route_name="admin.match", context=AdminMatch, permission="match:view",
             request_method="GET", renderer="admin/matches/detail.jinja2")
def match_detail(context, request):
    return match_page(request, context.match)


def _category_values(request):
    """The price category form as typed (shown again with its errors)."""
    return {"name": text_field(request.POST, "name", 80), "price": text_field(request.POST, "price", 20)}


def _valid_category_price(request, values):
    """The form's price in minor units, or a ValidationFailed naming every bad field."""
    errors = []
    price = money_field(request.POST, "price", errors, maximum=matches.MAX_PRICE)
    if not values["name"]:
        errors.append(field_error("name", "must not be empty"))
    require_valid(errors, "The price category is not valid.")
    return price


@view_config(route_name="admin.match.categories", context=AdminMatch, permission="match:edit",
             request_method="POST", renderer="admin/matches/detail.jinja2")
def add_category(context, request):
    match = context.match
    values = _category_values(request)
    try:
        price = _valid_category_price(request, values)
        category = matches.add_category(request.dbsession, match, values["name"], price,
                                        request.registry.settings["ticketing.currency"])
        audit.record(request.dbsession, request.identity.id, "match.category_create", "match", match.id,
                     category_id=category.id, name=category.name, price=category.price)
    except Problem as problem:
        errors = rejected(request, problem, fields=("name", "price"))
        return match_page(request, match, {"category": errors}, {"category": values})
    flash(request, f"Category “{category.name}” added.")
    return HTTPSeeOther(request.route_url("admin.match", match_id=match.id, _anchor="categories"))


def _category_id(request):
    raw = request.matchdict["category_id"]
    if not is_decimal(raw) or len(raw) > 18:
        raise HTTPNotFound()
    return int(raw)


def _category_page(request, match, category, errors=None, values=None):
    helpers = TemplateHelpers(request)
    planned = next((row["seats"] for row in matches.seating_summary(request.dbsession, match.id)["per_category"]
                    if row["category_id"] == category.id), 0)
    return {"match": match, "category": category, "planned": planned, "errors": errors or FormErrors(),
            "values": values or {"name": category.name, "price": helpers.amount_input(category.price)}}


def _draft_category(request, match):
    category = request.dbsession.get(PriceCategory, _category_id(request))
    if category is None or category.match_id != match.id:
        raise HTTPNotFound()
    return category


@view_config(route_name="admin.match.category", context=AdminMatch, permission="match:edit",
             request_method="GET", renderer="admin/matches/category.jinja2")
def edit_category_form(context, request):
    match = context.match
    if match.status != "draft":
        flash(request, "Price categories can only change while the match is a draft.", "error")
        return HTTPSeeOther(request.route_url("admin.match", match_id=match.id, _anchor="categories"))
    return _category_page(request, match, _draft_category(request, match))


@view_config(route_name="admin.match.category", context=AdminMatch, permission="match:edit",
             request_method="POST", renderer="admin/matches/category.jinja2")
def update_category(context, request):
    match = context.match
    category = _draft_category(request, match)
    values = _category_values(request)
    try:
        price = _valid_category_price(request, values)
        category, before = matches.update_category(request.dbsession, match, category.id, values["name"], price)
        audit.record(request.dbsession, request.identity.id, "match.category_update", "match", match.id,
                     category_id=category.id, name=category.name, price=category.price,
                     previous_name=before["name"], previous_price=before["price"])
    except Problem as problem:
        if not problem.errors:  # not about a field: the match is no longer a draft
            return _failed(request, problem, "admin.match", match_id=match.id)
        errors = rejected(request, problem, fields=("name", "price"))
        request.dbsession.expire(category)
        return _category_page(request, match, category, errors, values)
    flash(request, f"Category “{category.name}” saved.")
    return HTTPSeeOther(request.route_url("admin.match", match_id=match.id, _anchor="categories"))


@view_config(route_name="admin.match.category.delete", context=AdminMatch, permission="match:edit",
             request_method="POST")
def delete_category(context, request):
    match = context.match
    try:
        category, planned = matches.delete_category(request.dbsession, match, _category_id(request))
        audit.record(request.dbsession, request.identity.id, "match.category_delete", "match", match.id,
                     category_id=category.id, name=category.name, price=category.price, planned_seats=planned)
    except Problem as problem:
        return _failed(request, problem, "admin.match", match_id=match.id)
    taken = f" {planned} planned seat(s) are no longer on sale." if planned else ""
    flash(request, f"Category “{category.name}” deleted.{taken}")
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

# Publishing and closing change what every fan sees at once, so each takes two steps: the
# match page links to a confirmation page (GET) saying what will happen, and only its form
# (POST with confirm=yes) acts. A POST without it (an old one-click form, a replayed
# request) shows the confirmation page instead of acting. No JavaScript involved.
LIFE_CYCLE = {
    "publish": {"route": "admin.match.publish", "from": ("draft",)},
    "close": {"route": "admin.match.close", "from": ("on_sale",)},
    "reopen": {"route": "admin.match.reopen", "from": ("closed",)},
}


def _confirm_page(request, match, action, errors=None, values=None):
    dbsession = request.dbsession
    page = {"match": match, "action": action, "errors": errors or FormErrors(), "values": values or {},
            "seating": matches.seating_summary(dbsession, match.id),
            "categories": matches.categories(dbsession, match.id),
            "seats": seat_map.summaries(dbsession, [match.id])[match.id],
            "now": matches.utcnow()}
    if action == "reopen" and "sales_close_at" not in page["values"]:
        # Closed early: reopen until the old end of sales; closed by the clock: until kick-off.
        close_at = match.sales_close_at if match.sales_close_at > page["now"] else match.starts_at
        page["values"]["sales_close_at"] = TemplateHelpers(request).datetime_input(close_at)
    return page


def _not_now(request, match, action):
    """The action does not apply to the match as it is now (someone else acted first)."""
    if match.status in LIFE_CYCLE[action]["from"]:
        return None
    flash(request, f"Nothing done: the match is {STATUS_LABELS.get(match.status, match.status).lower()} now.",
          "error")
    return HTTPSeeOther(request.route_url("admin.match", match_id=match.id))


def _unconfirmed(request, match, action):
    problem = ValidationFailed("Confirm first: nothing was changed.",
                               errors=[field_error("confirm", "must be confirmed on this page")])
    return {**_confirm_page(request, match, action), "errors": rejected(request, problem, fields=("confirm",))}


@view_config(route_name="admin.match.publish", context=AdminMatch, permission="match:edit",
             request_method="GET", renderer="admin/matches/confirm.jinja2")
@view_config(route_name="admin.match.close", context=AdminMatch, permission="match:edit",
             request_method="GET", renderer="admin/matches/confirm.jinja2")
@view_config(route_name="admin.match.reopen", context=AdminMatch, permission="match:edit",
             request_method="GET", renderer="admin/matches/confirm.jinja2")
def life_cycle_confirmation(context, request):
    action = request.matched_route.name.rsplit(".", 1)[1]
    return _not_now(request, context.match, action) or _confirm_page(request, context.match, action)


@view_config(route_name="admin.match.publish", context=AdminMatch, permission="match:edit",
             request_method="POST", renderer="admin/matches/confirm.jinja2")
def publish(context, request):
    if request.POST.get("confirm") != "yes":
        return _not_now(request, context.match, "publish") or _unconfirmed(request, context.match, "publish")
    try:
        match = matches.publish(request.dbsession, context.match)
        audit.record(request.dbsession, request.identity.id, "match.publish", "match", match.id)
    except Problem as problem:
        return _failed(request, problem, "admin.match", match_id=context.match.id)
    on_sale = seat_map.summaries(request.dbsession, [match.id])[match.id]
    flash(request, f"Published: {on_sale['available']} seats on sale, {on_sale['blocked']} blocked.")
    return HTTPSeeOther(request.route_url("admin.match", match_id=match.id))


@view_config(route_name="admin.match.close", context=AdminMatch, permission="match:edit",
             request_method="POST", renderer="admin/matches/confirm.jinja2")
def close(context, request):
    if request.POST.get("confirm") != "yes":
        return _not_now(request, context.match, "close") or _unconfirmed(request, context.match, "close")
    try:
        match = matches.close_sales(request.dbsession, context.match)
        audit.record(request.dbsession, request.identity.id, "match.close", "match", match.id)
    except Problem as problem:
        return _failed(request, problem, "admin.match", match_id=context.match.id)
    flash(request, "Sales closed. You can reopen them until kick-off.")
    return HTTPSeeOther(request.route_url("admin.match", match_id=match.id))


@view_config(route_name="admin.match.reopen", context=AdminMatch, permission="match:edit",
             request_method="POST", renderer="admin/matches/confirm.jinja2")
def reopen(context, request):
    match = context.match
    if request.POST.get("confirm") != "yes":
        return _not_now(request, match, "reopen") or _unconfirmed(request, match, "reopen")
    values = {"sales_close_at": text_field(request.POST, "sales_close_at", 40)}
    try:
        errors = []
        close_at = datetime_field(request.POST, "sales_close_at", errors, local_zone(request))
        require_valid(errors, "Sales cannot reopen like this.")
        before = match.sales_close_at
        match = matches.reopen_sales(request.dbsession, match, close_at)
        audit.record(request.dbsession, request.identity.id, "match.reopen", "match", match.id,
                     sales_close_at=match.sales_close_at.isoformat(),
                     previous_sales_close_at=before.isoformat())
    except ValidationFailed as problem:
        request.dbsession.expire(match)
        return {**_confirm_page(request, match, "reopen", values=values),
                "errors": rejected(request, problem, fields=("sales_close_at",))}
    except Problem as problem:
        return _failed(request, problem, "admin.match", match_id=context.match.id)
    flash(request, f"Sales reopened until {TemplateHelpers(request).when(match.sales_close_at)}.")
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
