"""Orders: search (order number, e-mail or a part of it, name, match, status, days placed),
the order with its tickets and QR codes, the staff refund (after a confirmation step), and
cancelling one ticket of an order."""
import io
import re
from datetime import timedelta

import segno
from markupsafe import Markup
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config

from ticketing.models import Order
from ticketing.money import audit_amount
from ticketing.problems import Problem, field_error
from ticketing.resources.admin import AdminOrder, Orders
from ticketing.services import accounts, audit, orders, wallet
from ticketing.services import tickets as ticket_service

from .forms import (FormErrors, TemplateHelpers, date_field, flash, int_field, keyset_paged, local_zone,
                    rejected, text_field)
from ticketing.resources import is_decimal

ORDER_STATUSES = ("paid", "cancelled")


SORTS = {"newest": True, "oldest": False}


def parse_search(raw):
    """"#42" or "42" is an order number; a whole e-mail address is that fan's; anything else
    is a part of a fan's e-mail address or name."""
    raw = (raw or "").strip()
    number = raw.lstrip("#").strip()
    if is_decimal(number) and len(number) < 19:
        return {"order_id": int(number)}
    if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", raw):
        return {"email": raw}
    if raw:
        return {"contains": raw}
    return {}


def order_filters(request, errors):
    """The list's filters from the query string, each bad one named in ``errors``. The CSV
    export (views/admin/exports.py) reads them here too, so it exports what the list shows."""
    params = request.GET
    q = text_field(params, "q", 254)
    status = params.get("status") or ""
    if status and status not in ORDER_STATUSES:
        errors.append(field_error("status", "must be paid or cancelled"))
        status = ""
    sort = params.get("sort") or "newest"
    if sort not in SORTS:
        errors.append(field_error("sort", "must be newest or oldest"))
        sort = "newest"
    match_id = int_field(params, "match_id", errors, required=False, minimum=1, label="a match number")
    zone = local_zone(request)
    placed_from = date_field(params, "from", errors, zone)
    placed_to = date_field(params, "to", errors, zone)
    if placed_from and placed_to and placed_to < placed_from:
        errors.append(field_error("to", "must not be before the first day"))
    search = parse_search(q)
    if "contains" in search and len(search["contains"]) < orders.MIN_CONTAINS:
        errors.append(field_error("q", f"needs at least {orders.MIN_CONTAINS} characters of an e-mail "
                                       "address or a name, or an order number"))
    return {"q": q, "search": search, "status": status, "sort": sort, "match_id": match_id,
            "placed_from": placed_from, "placed_to": placed_to}


def query_of(filters):
    """``orders.orders_query``'s keyword arguments for parsed filters (the days are whole
    local days: up to the start of the day after the last)."""
    search, placed_to = filters["search"], filters["placed_to"]
    return {"email": search.get("email"), "contains": search.get("contains"), "order_id": search.get("order_id"),
            "match_id": filters["match_id"], "status": filters["status"] or None,
            "placed_from": filters["placed_from"],
            "placed_before": placed_to + timedelta(days=1) if placed_to else None}


@view_config(route_name="admin.orders", context=Orders, permission="order:view",
             request_method="GET", renderer="admin/orders/list.jinja2")
def list_orders(context, request):
    """Search by order number, e-mail (whole or part), name, match, status and the days
    placed; newest or oldest first; keyset pages that keep the search (decision 0038)."""
    params = request.GET
    errors = []
    filters = order_filters(request, errors)
    q, search, status, sort, match_id = (filters[name] for name in ("q", "search", "status", "sort", "match_id"))
    placed_from, placed_to = filters["placed_from"], filters["placed_to"]
    if "order_id" in search and not errors:
        order = request.dbsession.get(Order, search["order_id"])
        if order is not None:
            return HTTPSeeOther(request.route_url("admin.order", order_id=order.id))
        flash(request, f"There is no order {q}.", "error")
        return HTTPSeeOther(request.route_url("admin.orders"))
    filtered = bool(q or status or match_id or placed_from or placed_to)
    rows, pager = [], None
    if not errors:
        query = {**query_of(filters), "order_id": None}  # an order number was answered above
        rows, pager = keyset_paged(request, lambda size, after, before: orders.search_orders(
            request.dbsession, size=size, after=after, before=before, newest_first=SORTS[sort], **query))
    else:
        request.response.status = 400
    match = orders.get_match(request.dbsession, match_id) if match_id else None
    return {
        "orders": rows,
        "pager": pager,
        "q": q,
        "status": status,
        "statuses": ORDER_STATUSES,
        "sort": sort,
        "sorts": tuple(SORTS),
        "date_from": params.get("from", "")[:10],
        "date_to": params.get("to", "")[:10],
        "match": match,
        "match_id": match_id,
        "filtered": filtered,
        "errors": {error["field"]: error["message"] for error in errors},
        "users": accounts.users_by_id(request.dbsession, [row.user_id for row in rows]),
        "matches": {row.match_id: orders.get_match(request.dbsession, row.match_id) for row in rows},
    }


def qr_svg(code):
    buffer = io.BytesIO()
    segno.make(code, error="m").save(buffer, kind="svg", scale=4, border=2, xmldecl=False, omitsize=True,
                                     title="Ticket code", svgclass="qr-code")
    return Markup(buffer.getvalue().decode("utf-8"))


def order_page(request, order, errors=None):
    dbsession = request.dbsession
    signer = request.registry["ticket_signer"]
    tickets = []
    rows = orders.tickets_of(dbsession, [order.id])[order.id]
    # Tickets the fan gave away (decision 0058) show who holds them now.
    holders = accounts.users_by_id(dbsession, [t["user_id"] for t in rows if t["user_id"] != order.user_id])
    for ticket in rows:
        code = None
        if ticket["status"] == "valid":
            code = signer.sign(ticket["id"], ticket["match_id"], ticket["seat_id"], ticket["code_version"])
        tickets.append({**ticket, "code": code, "qr": qr_svg(code) if code else None,
                        "holder": holders.get(ticket["user_id"])})
    ledger, _ = wallet.transactions(dbsession, order.user_id, 10, 0)
    return {
        "order": order,
        "customer": accounts.users_by_id(dbsession, [order.user_id])[order.user_id],
        "match": orders.get_match(dbsession, order.match_id),
        "tickets": tickets,
        "admitted": sum(1 for ticket in tickets if ticket["checked_in_at"]),
        "ledger": [entry for entry in ledger if entry.order_id == order.id],
        "cancelled_by": accounts.users_by_id(dbsession, [order.cancelled_by]).get(order.cancelled_by)
        if order.cancelled_by else None,
        "errors": errors or FormErrors(),
    }


@view_config(route_name="admin.order", context=AdminOrder, permission="order:view",
             request_method="GET", renderer="admin/orders/detail.jinja2")
def order_detail(context, request):
    return order_page(request, context.order)


@view_config(route_name="admin.order.refund", context=AdminOrder, permission="order:refund",
             request_method="GET", renderer="admin/orders/refund.jinja2")
def refund_confirmation(context, request):
    return order_page(request, context.order)


@view_config(route_name="admin.order.refund", context=AdminOrder, permission="order:refund",
             request_method="POST", renderer="admin/orders/refund.jinja2")
def refund(context, request):
    order = context.order
    reason = text_field(request.POST, "reason", 200) or None
    # A ticket already used at the gate is refunded only with this box ticked and a reason.
    override = request.POST.get("override_admitted") == "yes"
    try:
        orders.cancel_order(request.dbsession, order, request.identity.id, actor_is_staff=True, reason=reason,
                            override_admitted=override)
        audit.record(request.dbsession, request.identity.id, "order.refund", "order", order.id,
                     **audit_amount(order.total, order.currency), reason=reason,
                     **({"override_admitted": True} if override else {}))
    except Problem as problem:
        errors = rejected(request, problem, fields=("reason", "override_admitted"))
        request.dbsession.expire(order)
        return order_page(request, order, errors)
    amount = TemplateHelpers(request).money(order.total, order.currency)
    flash(request, f"Order #{order.id} cancelled: {amount} refunded to the fan's wallet.")
    return HTTPSeeOther(request.route_url("admin.order", order_id=order.id))


@view_config(route_name="admin.order.ticket_cancel", context=AdminOrder, permission="order:refund",
             request_method="POST", renderer="admin/orders/detail.jinja2")
def cancel_ticket(context, request):
    order = context.order
    raw = request.matchdict["ticket_id"]
    ticket = orders.get_ticket(request.dbsession, int(raw)) if is_decimal(raw) and len(raw) < 19 else None
    if ticket is None or ticket.order_id != order.id:
        flash(request, "That ticket is not part of this order.", "error")
        return HTTPSeeOther(request.route_url("admin.order", order_id=order.id))
    try:
        cancelled = ticket_service.cancel_ticket(request.dbsession, ticket.id, request.identity.id, actor_is_staff=True)
        audit.record(request.dbsession, request.identity.id, "ticket.refund", "ticket", ticket.id,
                     order_id=order.id, amount=cancelled.refunded)
    except Problem as problem:
        errors = rejected(request, problem)
        request.dbsession.expire(order)
        return order_page(request, order, errors)
    amount = TemplateHelpers(request).money(cancelled.refunded, cancelled.currency)
    flash(request, f"Ticket #{ticket.id} cancelled: {amount} refunded to the fan's wallet"
                   + (" (it was the order's last ticket: the order is cancelled)." if cancelled.order_cancelled else "."))
    return HTTPSeeOther(request.route_url("admin.order", order_id=order.id))
