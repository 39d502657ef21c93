"""Orders: search (e-mail, order number, match), the order with its tickets and QR codes, and
the staff refund (after a confirmation step)."""
import io

import segno
from markupsafe import Markup
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config

from ticketing.models import Order
from ticketing.money import audit_amount
from ticketing.problems import Problem
from ticketing.resources.admin import AdminOrder, Orders
from ticketing.services import accounts, audit, orders, wallet

from .forms import FormErrors, TemplateHelpers, flash, int_field, paged, rejected, text_field
from ticketing.resources import is_decimal

ORDER_STATUSES = ("paid", "cancelled")


def parse_search(raw):
    """"#42" or "42" is an order number; anything with an @ an e-mail address."""
    raw = (raw or "").strip()
    number = raw.lstrip("#").strip()
    if is_decimal(number) and len(number) < 19:
        return {"order_id": int(number)}
    if "@" in raw:
        return {"email": raw}
    return {}


def order_filters(request):
    """The list's filters from the query string: (q, search, status, match_id). The CSV export
    (views/admin/exports.py) reads them here too, so it exports what the list shows."""
    q = text_field(request.GET, "q", 254)
    status = request.GET.get("status") if request.GET.get("status") in ORDER_STATUSES else None
    match_id = int_field(request.GET, "match_id", [], required=False, minimum=1)
    return q, parse_search(q), status, match_id


@view_config(route_name="admin.orders", context=Orders, permission="order:view",
             request_method="GET", renderer="admin/orders/list.jinja2")
def list_orders(context, request):
    q, search, status, match_id = order_filters(request)
    if "order_id" in search:
        order = request.dbsession.get(Order, search["order_id"])
        if order is not None:
            return HTTPSeeOther(request.route_url("admin.order", order_id=order.id))
        flash(request, f"There is no order {q}.", "error")
        return HTTPSeeOther(request.route_url("admin.orders"))
    rows, pager = paged(request, lambda limit, offset: orders.list_orders(
        request.dbsession, match_id=match_id, status=status, email=search.get("email"), limit=limit, offset=offset))
    match = orders.get_match(request.dbsession, match_id) if match_id else None
    return {
        "orders": rows,
        "pager": pager,
        "q": q,
        "status": status or "",
        "statuses": ORDER_STATUSES,
        "match": match,
        "unrecognised": bool(q) and not search,
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
    for ticket in orders.tickets_of(dbsession, [order.id])[order.id]:
        code = None
        if ticket["status"] == "valid":
            code = signer.sign(ticket["id"], ticket["match_id"], ticket["seat_id"], ticket["code_version"])
        tickets.append({**ticket, "code": code, "qr": qr_svg(code) if code else None})
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
