"""Tickets: the signed code, its QR image and PDF, the public verification key, gate check-in,
and what a holder may do with one ticket (cancel it, give it to another fan)."""
import base64
import io

import segno
from pyramid.response import Response
from pyramid.view import view_config

from ticketing.problems import Gone
from ticketing.resources import Root
from ticketing.resources.catalogue import MatchResource
from ticketing.resources.commerce import TicketContainer, TicketResource
from ticketing.services import audit, check_in, orders, rate_limits, recovery, ticket_pdf
from ticketing.services import tickets as ticket_service

from .pagination import page, page_params
from .serializers import ticket_cancellation_json, ticket_json, transfer_json


def _ticket_row(request, ticket):
    rows = orders.tickets_of(request.dbsession, [ticket.order_id])[ticket.order_id]
    return next(row for row in rows if row["id"] == ticket.id)


@view_config(route_name="api.ticket", context=TicketResource, permission="ticket:view",
             request_method="GET", renderer="json", openapi=True)
def get_ticket(context, request):
    return ticket_json(_ticket_row(request, context.ticket), request.registry["ticket_signer"])


#: What the QR operation answers, in order of preference (an Accept header picks another).
QR_MEDIA_TYPES = ["image/svg+xml", "application/octet-stream"]
#: And the PDF ticket's.
PDF_MEDIA_TYPES = ["application/pdf", "application/octet-stream"]


@view_config(route_name="api.ticket.qr", context=TicketResource, permission="ticket:view",
             request_method="GET", openapi=True)
def ticket_qr(context, request):
    ticket = _ticket_row(request, context.ticket)
    body = ticket_json(ticket, request.registry["ticket_signer"])
    if body["code"] is None:
        from ticketing.problems import Gone

        raise Gone("This ticket was voided; it has no code.")
    buffer = io.BytesIO()
    segno.make(body["code"], error="m").save(buffer, kind="svg", scale=4, border=4, title=f"Ticket {ticket['id']}")
    # The same SVG bytes as a download for a client that asks for application/octet-stream:
    # code generators that know no image types type that one as a file (decision 0045).
    offers = request.accept.acceptable_offers(QR_MEDIA_TYPES)
    media_type = offers[0][0] if offers else QR_MEDIA_TYPES[0]
    response = Response(body=buffer.getvalue(), content_type=media_type, charset=None)
    if media_type == "application/octet-stream":
        response.content_disposition = f'attachment; filename="ticket-{ticket["id"]}.svg"'

    response.cache_control.private = True
    response.cache_control.max_age = 300
    return response


@view_config(route_name="api.tickets.public_key", context=Root, permission="public",
             request_method="GET", renderer="json", openapi=True)
def public_key(context, request):
    signer = request.registry["ticket_signer"]
    return {
        "algorithm": "Ed25519",
        "public_key": base64.b64encode(signer.public_key_raw()).decode("ascii"),
        "public_key_pem": signer.public_key_pem(),
        "code_format": "T1.<base64url(payload || signature)>; payload = struct '>BQQQH' "
                       "(format=1, ticket_id, match_id, seat_id, version); signature = Ed25519(payload)",
    }


@view_config(route_name="api.match.check_ins", context=MatchResource, permission="match:check_in",
             request_method="POST", renderer="json", openapi=True)
def check_in_view(context, request):
    body = request.openapi_validated.body
    return check_in.check_in(
        request.dbsession,
        request.registry["ticket_signer"].public_key,
        context.row.id,
        body["code"],
        request.identity.id,
    )


@view_config(route_name="api.tickets", context=TicketContainer, permission="ticket:list",
             request_method="GET", renderer="json", openapi=True)
def held_tickets(context, request):
    limit, offset = page_params(request)
    match_id = request.openapi_validated.parameters.query.get("match_id")
    rows, total = ticket_service.held_tickets(request.dbsession, request.identity.id, match_id, limit, offset)
    signer = request.registry["ticket_signer"]
    return page(request, [ticket_json(row, signer) for row in rows], total, limit, offset)


@view_config(route_name="api.ticket.cancel", context=TicketResource, permission="ticket:cancel",
             request_method="POST", renderer="json", openapi=True)
def cancel_ticket(context, request):
    staff = request.identity.role in ("staff", "admin")
    cancelled = ticket_service.cancel_ticket(request.dbsession, context.ticket.id, request.identity.id, staff)
    if staff:
        audit.record(request.dbsession, request.identity.id, "ticket.refund", "ticket", cancelled.ticket_id,
                     order_id=cancelled.order_id, amount=cancelled.refunded)
    request.dbsession.expire(context.ticket)
    return ticket_cancellation_json(cancelled, ticket_json(_ticket_row(request, context.ticket)))


@view_config(route_name="api.ticket.transfer", context=TicketResource, permission="ticket:transfer",
             request_method="POST", renderer="json", openapi=True)
def transfer_ticket(context, request):
    # A ticket leaving for another fan waits until the holder's address is confirmed
    # (decision 0056, which also says why staff acting for a fan would not be held to it):
    # first, before the attempt is counted or anything is written.
    recovery.require_verified_email(request.identity.user, "give a ticket to another fan")
    body = request.openapi_validated.body
    limit = request.registry.settings["ratelimit.transfers_per_user_hour"]
    if limit:  # counted before the look-up, so a refused address costs an attempt too
        count = rate_limits.count_all(request.registry["db_autocommit_engine"],
                                      [(f"transfers:user:{request.identity.id}", limit)], 3600)
        request.response.headers.update(rate_limits.rate_limit_headers([count]))
    transfer = ticket_service.transfer_ticket(
        request.dbsession, context.ticket.id, request.identity.id, body["email"],
        request.registry.settings["ticketing.currency"])
    return transfer_json(transfer)


@view_config(route_name="api.ticket.pdf", context=TicketResource, permission="ticket:view",
             request_method="GET", openapi=True)
def ticket_pdf_view(context, request):
    ticket = ticket_service.printable(request.dbsession, context.ticket.id)
    body = ticket_json(ticket, request.registry["ticket_signer"])
    if body["code"] is None:
        raise Gone("This ticket was voided; there is nothing to print.")
    # As the QR code: the same bytes as a download for clients that ask for octet-stream.
    offers = request.accept.acceptable_offers(PDF_MEDIA_TYPES)
    media_type = offers[0][0] if offers else PDF_MEDIA_TYPES[0]
    response = Response(body=ticket_pdf.render(ticket, body["code"]), content_type=media_type, charset=None)
    disposition = "inline" if media_type == "application/pdf" else "attachment"
    response.content_disposition = f'{disposition}; filename="ticket-{ticket["id"]}.pdf"'
    response.cache_control.private = True
    response.cache_control.no_store = True
    return response
