"""Buying: the wallet, holds, checkout, orders and cancellations."""
from datetime import datetime, timezone

from pyramid.httpexceptions import HTTPNoContent
from pyramid.view import view_config

from ticketing.money import audit_amount
from ticketing.resources.catalogue import MatchResource
from ticketing.resources.commerce import HoldResource, OrderContainer, OrderResource, WalletResource
from ticketing.services import audit, holds, notices, orders, recovery, wallet, waiting_room

from .idempotency import idempotent
from .pagination import page, page_params
from .serializers import hold_json, ledger_json, match_json, order_json


def _currency(request):
    return request.registry.settings["ticketing.currency"]


def _signer(request):
    return request.registry["ticket_signer"]


def _is_staff(request):
    return request.identity is not None and request.identity.role in ("staff", "admin")


# --- wallet ------------------------------------------------------------------------------

@view_config(route_name="api.wallet", context=WalletResource, permission="wallet:view",
             request_method="GET", renderer="json", openapi=True)
def get_wallet(context, request):
    return wallet.get_wallet(request.dbsession, request.identity.id, _currency(request))


@view_config(route_name="api.wallet.top_ups", context=WalletResource, permission="wallet:top_up",
             request_method="POST", renderer="json", openapi=True, decorator=idempotent("top-up"))
def top_up(context, request):
    body = request.openapi_validated.body
    entry = wallet.top_up(request.dbsession, request.identity.id, body["amount"], _currency(request))
    request.response.status = 201
    return {"transaction": ledger_json(entry), "balance": entry.balance_after, "currency": entry.currency}


@view_config(route_name="api.wallet.withdrawals", context=WalletResource, permission="wallet:withdraw",
             request_method="POST", renderer="json", openapi=True,
             decorator=idempotent("withdrawal", rate_limit="withdrawals"))
def withdraw(context, request):
    # Money leaving for a payout waits until the address is confirmed (decision 0056). The
    # 403 releases the Idempotency-Key's claim (it is not a 2xx), so the same key pays out
    # once the fan has followed the link.
    recovery.require_verified_email(request.identity.user, "withdraw money from your wallet")
    body = request.openapi_validated.body
    entry = wallet.withdraw(request.dbsession, request.identity.id, body["amount"], _currency(request))
    request.response.status = 201
    return {"transaction": ledger_json(entry), "balance": entry.balance_after, "currency": entry.currency,
            "payout": {"reference": entry.payout_reference, "status": "sent", "simulated": True}}


@view_config(route_name="api.wallet.transactions", context=WalletResource, permission="wallet:view",
             request_method="GET", renderer="json", openapi=True)
def ledger(context, request):
    limit, offset = page_params(request)
    rows, total = wallet.transactions(request.dbsession, request.identity.id, limit, offset)
    return page(request, [ledger_json(row) for row in rows], total, limit, offset)


# --- holds -------------------------------------------------------------------------------

def _hold_body(request, hold, seats=None):
    now = datetime.now(timezone.utc)
    return hold_json(hold, holds.hold_state(hold, now), seats if seats is not None else holds.seats_of(request.dbsession, hold))


@view_config(route_name="api.match.holds", context=MatchResource, permission="match:hold",
             request_method="POST", renderer="json", openapi=True,
             decorator=idempotent("hold", rate_limit="holds", location=("api.hold", "hold_id")))
def create_hold(context, request):
    body = dict(request.openapi_validated.body)
    if context.row.waiting_room:
        # While the match's waiting room is on, only a fan it called may hold seats: their
        # signed admission, checked without a database round trip.
        waiting_room.check_admission(request.registry.settings["auth.jwt_secret"],
                                     request.headers.get("Queue-Admission"), context.row.id,
                                     request.identity.id, datetime.now(timezone.utc))
    hold = holds.create_hold(request.dbsession, request.identity.id, context.row, body, _currency(request),
                             request.registry["db_autocommit_engine"])
    request.response.status = 201
    request.response.location = request.route_path("api.hold", hold_id=hold.id)
    return _hold_body(request, hold, hold.seats)


@view_config(route_name="api.hold", context=HoldResource, permission="hold:view",
             request_method="GET", renderer="json", openapi=True)
def get_hold(context, request):
    return _hold_body(request, context.row)


@view_config(route_name="api.hold", context=HoldResource, permission="hold:release",
             request_method="DELETE", openapi=True)
def release_hold(context, request):
    holds.release_hold(request.dbsession, context.hold)
    return HTTPNoContent()


@view_config(route_name="api.hold.checkout", context=HoldResource, permission="hold:checkout",
             request_method="POST", renderer="json", openapi=True,
             decorator=idempotent("checkout", rate_limit="checkouts", location=("api.order", "order_id")))
def checkout(context, request):
    order, tickets = orders.checkout(request.dbsession, request.identity.id, context.row.id, _currency(request))
    notices.order_receipt(request.dbsession, order)
    request.response.status = 201
    request.response.location = request.route_path("api.order", order_id=order.id)
    return order_json(order, tickets, _signer(request))


# --- orders ------------------------------------------------------------------------------

@view_config(route_name="api.orders", context=OrderContainer, permission="order:list",
             request_method="GET", renderer="json", openapi=True)
def list_orders(context, request):
    limit, offset = page_params(request)
    query = request.openapi_validated.parameters.query
    staff = _is_staff(request)
    rows, total = orders.list_orders(
        request.dbsession,
        user_id=None if staff else request.identity.id,
        match_id=query.get("match_id"),
        status=query.get("status"),
        email=query.get("email") if staff else None,
        limit=limit,
        offset=offset,
    )
    tickets = orders.tickets_of(request.dbsession, [row.id for row in rows])
    signer = _signer(request)
    return page(request, [order_json(row, tickets[row.id], signer) for row in rows], total, limit, offset)


@view_config(route_name="api.order", context=OrderResource, permission="order:view",
             request_method="GET", renderer="json", openapi=True)
def get_order(context, request):
    order = context.order
    return order_json(order, orders.tickets_of(request.dbsession, [order.id])[order.id], _signer(request))


@view_config(route_name="api.order.cancel", context=OrderResource, permission="order:cancel",
             request_method="POST", renderer="json", openapi=True)
def cancel_order(context, request):
    # Staff may cancel past the refund window or after admission; every cancellation made
    # with those rights is audited, a staff member's own order included (a fan promoted to
    # staff would otherwise refund their own used tickets without a trace).
    # Refunding a ticket already used at the gate takes {override_admitted: true, reason}.
    staff = _is_staff(request)
    body = request.openapi_validated.body or {}
    reason = body.get("reason")
    order = orders.cancel_order(request.dbsession, context.order, request.identity.id, staff,
                                reason=reason if staff else None, override_admitted=body.get("override_admitted", False))
    if staff:
        audit.record(request.dbsession, request.identity.id, "order.refund", "order", order.id,
                     **audit_amount(order.total, order.currency), reason=reason)
    return order_json(order, orders.tickets_of(request.dbsession, [order.id])[order.id], _signer(request))


@view_config(route_name="api.match.cancel", context=MatchResource, permission="match:edit",
             request_method="POST", renderer="json", openapi=True)
def cancel_match(context, request):
    match, refunded = orders.cancel_match(request.dbsession, context.match, request.identity.id)
    audit.record(request.dbsession, request.identity.id, "match.cancel", "match", match.id, refunded_orders=refunded)
    return {**match_json(match), "refunded_orders": refunded}
