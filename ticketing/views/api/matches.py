"""Match endpoints: scheduling, categories, seating, publication, seat map and report."""
from datetime import timezone

from pyramid.authorization import ACLHelper, Everyone
from pyramid.response import Response
from pyramid.view import view_config

from ticketing.problems import ValidationFailed, field_error
from ticketing.resources.catalogue import MatchContainer, MatchResource
from ticketing.services import audit, matches, seat_map

from .pagination import page, page_params
from .serializers import category_json, match_json


def _utc(moment, field):
    if moment is None:
        return None
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
        raise ValidationFailed("The date is out of range.", errors=[field_error(field, "out of range")]) from None


def _is_staff(request):
    identity = request.identity
    return identity is not None and identity.role in ("staff", "admin")


@view_config(route_name="api.matches", context=MatchContainer, permission="match:list",
             request_method="GET", renderer="json", openapi=True)
def list_matches(context, request):
    limit, offset = page_params(request)
    query = request.openapi_validated.parameters.query
    rows, total = matches.list_matches(
        request.dbsession,
        limit=limit,
        offset=offset,
        public_only=not _is_staff(request),
        date_from=_utc(query.get("from"), "from"),
        date_to=_utc(query.get("to"), "to"),
        team=query.get("team"),
        stadium_id=query.get("stadium_id"),
        status=query.get("status"),
    )
    counts = seat_map.summaries(request.dbsession, [row.id for row in rows])
    return page(request, [match_json(row, counts[row.id]) for row in rows], total, limit, offset)


@view_config(route_name="api.matches", context=MatchContainer, permission="match:create",
             request_method="POST", renderer="json", openapi=True)
def create_match(context, request):
    match = matches.create_match(request.dbsession, dict(request.openapi_validated.body))
    request.response.status = 201
    request.response.location = request.route_path("api.match", match_id=match.id)
    return match_json(match)


@view_config(route_name="api.match", context=MatchResource, permission="match:view",
             request_method="GET", renderer="json", openapi=True)
def get_match(context, request):
    match = context.match
    body = match_json(match, seat_map.summaries(request.dbsession, [match.id])[match.id])
    body["categories"] = [category_json(c) for c in matches.categories(request.dbsession, match.id)]
    return body


@view_config(route_name="api.match", context=MatchResource, permission="match:edit",
             request_method="PATCH", renderer="json", openapi=True)
def update_match(context, request):
    match = matches.update_match(request.dbsession, context.match, dict(request.openapi_validated.body))
    return match_json(match)


@view_config(route_name="api.match.categories", context=MatchResource, permission="match:view",
             request_method="GET", renderer="json", openapi=True)
def list_categories(context, request):
    limit, offset = page_params(request)
    categories = matches.categories(request.dbsession, context.match.id)  # a match has a handful
    items = [category_json(c) for c in categories[offset:offset + limit]]
    return page(request, items, len(categories), limit, offset)


@view_config(route_name="api.match.categories", context=MatchResource, permission="match:edit",
             request_method="POST", renderer="json", openapi=True)
def add_category(context, request):
    body = request.openapi_validated.body
    category = matches.add_category(
        request.dbsession, context.match, body["name"], body["price"], request.registry.settings["ticketing.currency"]
    )
    request.response.status = 201
    return category_json(category)


@view_config(route_name="api.match.seating", context=MatchResource, permission="match:edit",
             request_method="GET", renderer="json", openapi=True)
def get_seating(context, request):
    return matches.seating_summary(request.dbsession, context.match.id)


@view_config(route_name="api.match.seating", context=MatchResource, permission="match:edit",
             request_method="PUT", renderer="json", openapi=True)
def put_seating(context, request):
    body = request.openapi_validated.body
    summary = matches.replace_seating(
        request.dbsession, context.match, body.get("assignments", []), body.get("blocked", [])
    )
    audit.record(request.dbsession, request.identity.id, "match.seating", "match", context.match.id,
                 on_sale=summary["on_sale"], blocked=summary["blocked"])
    return summary


@view_config(route_name="api.match.publish", context=MatchResource, permission="match:edit",
             request_method="POST", renderer="json", openapi=True)
def publish(context, request):
    match = matches.publish(request.dbsession, context.match)
    audit.record(request.dbsession, request.identity.id, "match.publish", "match", match.id)
    return match_json(match, seat_map.summaries(request.dbsession, [match.id])[match.id])


@view_config(route_name="api.match.close", context=MatchResource, permission="match:edit",
             request_method="POST", renderer="json", openapi=True)
def close(context, request):
    match = matches.close_sales(request.dbsession, context.match)
    audit.record(request.dbsession, request.identity.id, "match.close", "match", match.id)
    return match_json(match)


#: A map anyone may see is the same for everyone: a shared cache (nginx, deploy/nginx.conf)
#: may answer it for a second, then revalidates it with its ETag. Browsers always revalidate.
PUBLIC_MAP = "public, max-age=0, s-maxage=1"
#: A draft's map is for staff only: no shared cache may keep it.
PRIVATE_MAP = "private, no-cache"


def etag_matches(if_none_match, etag):
    """RFC 9110 weak comparison of ``etag`` with an ``If-None-Match`` header (a list, or ``*``)."""
    if not if_none_match:
        return False
    opaque = etag[2:] if etag.startswith("W/") else etag
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or (candidate[2:] if candidate.startswith("W/") else candidate) == opaque:
            return True
    return False


@view_config(route_name="api.match.seats", context=MatchResource, permission="match:view",
             request_method="GET", openapi=True)
def seats(context, request):
    """The seat map. Conditional: ``If-None-Match`` with the current ETag gets a 304."""
    match = context.row  # id and stadium_id; the status comes with the ETag (seat_map.version)
    query = request.openapi_validated.parameters.query
    filters = {key: query[key] for key in ("section_id", "category_id", "status") if query.get(key) is not None}
    current, status = seat_map.version(request.dbsession, match.id, filters)
    public = ACLHelper().permits(context, [Everyone], "match:view")
    if etag_matches(request.headers.get("If-None-Match"), current):
        response = Response(status=304)
    else:
        body = seat_map.render(request.dbsession, match, filters, current, status)
        response = Response(body=body, content_type="application/json", charset=None)
    response.headers["ETag"] = current
    response.headers["Cache-Control"] = PUBLIC_MAP if public else PRIVATE_MAP
    return response


@view_config(route_name="api.match.summary", context=MatchResource, permission="match:view",
             request_method="GET", renderer="json", openapi=True)
def summary(context, request):
    match = context.row
    return {"match_id": match.id, "status": match.status, **seat_map.summaries(request.dbsession, [match.id])[match.id]}


@view_config(route_name="api.match.report", context=MatchResource, permission="match:report",
             request_method="GET", renderer="json", openapi=True)
def report(context, request):
    return seat_map.report(request.dbsession, context.match, request.registry.settings["ticketing.currency"])
