"""The waiting room over HTTP: staff set it up, fans join, poll the shared status, and exchange
their pass for an admission (ticketing/services/waiting_room.py, decision 0037)."""
from datetime import datetime, timezone

from pyramid.view import view_config

from ticketing.proxy_clock import proxy_arrival
from ticketing.resources.catalogue import MatchResource
from ticketing.services import audit, waiting_room

from .matches import PUBLIC_MAP


def _now():
    return datetime.now(timezone.utc)


def _secret(request):
    return request.registry.settings["auth.jwt_secret"]


def room_json(request, match_id, room, now):
    return {
        "match_id": match_id, "enabled": room.enabled, "mode": room.mode,
        "admit_per_minute": room.admit_per_minute, "max_shopping": room.max_shopping,
        "shopping_seconds": room.shopping_seconds, "opens_at": room.opens_at, "paused": room.paused,
        "status": waiting_room.status(request.dbsession, match_id, now),
        "figures": waiting_room.figures(request.dbsession, match_id, now),
    }


def place_json(request, match, place, now, people_ahead):
    """``people_ahead``: None for a place drawn before the opening, until the opening."""
    opened = now >= match.sales_open_at
    return {
        "match_id": match.id, "order_key": place.order_key, "joined_at": place.joined_at,
        "called": place.called_at is not None,
        "pass": waiting_room.issue_pass(_secret(request), match.id, request.identity.id, place),
        "people_ahead": 0 if place.called_at is not None else people_ahead,
        "status_url": request.route_path("api.match.queue", match_id=match.id),
        "poll_after_seconds": (waiting_room.POLL_WHILE_OPEN_SECONDS if opened
                               else waiting_room.POLL_BEFORE_OPENING_SECONDS),
    }


@view_config(route_name="api.match.waiting_room", context=MatchResource, permission="match:edit",
             request_method="GET", renderer="json", openapi=True)
def get_waiting_room(context, request):
    room = waiting_room.get_room(request.dbsession, context.row.id)
    if room is None:
        room = waiting_room.configure(request.dbsession, context.match, {}, _now())
    return room_json(request, context.row.id, room, _now())


@view_config(route_name="api.match.waiting_room", context=MatchResource, permission="match:edit",
             request_method="PUT", renderer="json", openapi=True)
def put_waiting_room(context, request):
    changes = dict(request.openapi_validated.body)
    now = _now()
    room = waiting_room.configure(request.dbsession, context.match, changes, now)
    audit.record(request.dbsession, request.identity.id, "match.waiting_room", "match", context.row.id,
                 **{key: (value.isoformat() if isinstance(value, datetime) else value) for key, value in changes.items()})
    return room_json(request, context.row.id, room, now)


@view_config(route_name="api.match.queue", context=MatchResource, permission="match:view",
             request_method="GET", renderer="json", openapi=True)
def queue_status(context, request):
    # The same answer for every fan: a shared cache (nginx) answers the rush's polls for a
    # second, and with it the work of advancing the pace runs about once a second.
    request.response.headers["Cache-Control"] = PUBLIC_MAP
    return waiting_room.status(request.dbsession, context.row.id, _now())


@view_config(route_name="api.match.queue", context=MatchResource, permission="match:queue",
             request_method="POST", renderer="json", openapi=True)
def join_queue(context, request):
    # The rush's one write per fan: kept to traversal's row and one statement (no ORM object).
    # Before or after the opening is when the fan reached nginx, which paces a rush's joins.
    now = _now()
    arrived = proxy_arrival(request.environ)
    place = waiting_room.join(request.dbsession, context.row, request.identity.id, now,
                              arrived_at=None if arrived is None else datetime.fromtimestamp(arrived, timezone.utc))
    request.response.status = 201 if place.new else 200
    return place_json(request, context.row, place, now, place.people_ahead)


@view_config(route_name="api.match.queue.me", context=MatchResource, permission="match:queue",
             request_method="GET", renderer="json", openapi=True)
def my_place(context, request):
    now = _now()
    row = waiting_room.my_place(request.dbsession, context.row.id, request.identity.id)
    place = waiting_room.Place(row.id, row.order_key, row.joined_at, row.called_at, False)
    status = waiting_room.status(request.dbsession, context.row.id, now)
    return place_json(request, context.row, place, now, waiting_room.people_ahead(place.order_key, status))


@view_config(route_name="api.match.queue.admission", context=MatchResource, permission="match:queue",
             request_method="POST", renderer="json", openapi=True)
def admit(context, request):
    token, expires = waiting_room.exchange(request.dbsession, _secret(request), context.row.id, request.identity.id,
                                           request.openapi_validated.body["pass"], _now())
    request.response.status = 201
    return {"admission": token, "expires_at": expires}
