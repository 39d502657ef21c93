"""Stadium endpoints: venues and their seat layouts."""
from pyramid.httpexceptions import HTTPNoContent
from pyramid.view import view_config

from ticketing.resources.catalogue import StadiumContainer, StadiumResource
from ticketing.services import stadiums

from .pagination import page, page_params
from .serializers import section_json, stadium_json


@view_config(route_name="api.stadiums", context=StadiumContainer, permission="stadium:list",
             request_method="GET", renderer="json", openapi=True)
def list_stadiums(context, request):
    limit, offset = page_params(request)
    query = request.openapi_validated.parameters.query
    rows, total = stadiums.list_stadiums(request.dbsession, limit, offset, city=query.get("city"), q=query.get("q"))
    return page(request, [stadium_json(row) for row in rows], total, limit, offset)


@view_config(route_name="api.stadiums", context=StadiumContainer, permission="stadium:create",
             request_method="POST", renderer="json", openapi=True)
def create_stadium(context, request):
    body = request.openapi_validated.body
    stadium = stadiums.create_stadium(request.dbsession, body["name"], body["city"], body.get("address", ""))
    request.response.status = 201
    request.response.location = request.route_path("api.stadium", stadium_id=stadium.id)
    return stadium_json(stadium, seat_count=0, sections=[])


@view_config(route_name="api.stadium", context=StadiumResource, permission="stadium:view",
             request_method="GET", renderer="json", openapi=True)
def get_stadium(context, request):
    stadium = context.stadium
    return stadium_json(stadium, stadiums.seat_count(request.dbsession, stadium.id), stadium.sections)


@view_config(route_name="api.stadium", context=StadiumResource, permission="stadium:edit",
             request_method="PATCH", renderer="json", openapi=True)
def update_stadium(context, request):
    stadium = stadiums.update_stadium(request.dbsession, context.stadium, dict(request.openapi_validated.body))
    return stadium_json(stadium, stadiums.seat_count(request.dbsession, stadium.id), stadium.sections)


@view_config(route_name="api.stadium.sections", context=StadiumResource, permission="stadium:edit",
             request_method="POST", renderer="json", openapi=True)
def add_section(context, request):
    body = request.openapi_validated.body
    rows = [{"label": row["label"], "seats": row["seats"]} for row in body["rows"]]
    section = stadiums.add_section(request.dbsession, context.stadium, body["name"], rows)
    request.response.status = 201
    return section_json(section)


@view_config(route_name="api.stadium.section", context=StadiumResource, permission="stadium:edit",
             request_method="DELETE", openapi=True)
def delete_section(context, request):
    section_id = request.openapi_validated.parameters.path["section_id"]
    stadiums.delete_section(request.dbsession, context.stadium, section_id)
    return HTTPNoContent()


@view_config(route_name="api.stadium.seats", context=StadiumResource, permission="stadium:view",
             request_method="GET", renderer="json", openapi=True)
def stadium_seats(context, request):
    section_id = request.openapi_validated.parameters.query.get("section_id")
    seats = stadiums.layout(request.dbsession, context.stadium.id, section_id)
    return {
        "stadium_id": context.stadium.id,
        "sections": [{"id": s.id, "name": s.name} for s in context.stadium.sections],
        "columns": ["id", "section_id", "row", "number", "x", "y"],
        "seats": [list(seat) for seat in seats],
    }
