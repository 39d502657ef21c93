"""Tickets: the signed code, its QR image, the public verification key and gate check-in."""
import base64
import io

import segno
from pyramid.response import Response
from pyramid.view import view_config

from ticketing.resources import Root
from ticketing.resources.catalogue import MatchResource
from ticketing.resources.commerce import TicketResource
from ticketing.services import check_in, orders

from .serializers import ticket_json


def _ticket_row(request, ticket):
    rows = orders.tickets_of(request.dbsession, [ticket.order_id])[ticket.order_id]
    return next(row for row in rows if row["id"] == ticket.id)


@view_config(route_name="api.ticket", context=TicketResource, permission="ticket:view",
             request_method="GET", renderer="json", openapi=True)
def get_ticket(context, request):
    return ticket_json(_ticket_row(request, context.ticket), request.registry["ticket_signer"])


#: What the QR operation answers, in order of preference (an Accept header picks another).
QR_MEDIA_TYPES = ["image/svg+xml", "application/octet-stream"]


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
