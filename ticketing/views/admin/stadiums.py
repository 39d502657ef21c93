"""Stadiums: list, create, edit, the section builder and the picture of the seats."""
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config

from ticketing.problems import Problem, ValidationFailed, field_error
from ticketing.resources.admin import AdminStadium, Stadiums
from ticketing.services import audit, stadiums

from .forms import all_errors, flash, int_field, paged, rejected, text_field
from .pictures import stadium_picture
from ticketing.resources import is_decimal

STADIUM_FIELDS = ("name", "city", "address")
SECTION_FIELDS = ("name", "row_count", "seats_per_row", "first_row", "extra_per_row")
SECTION_ALIASES = (("rows/*/seats", "seats_per_row"), ("rows/*/label", "first_row"), ("rows", "row_count"))


@view_config(route_name="admin.stadiums", context=Stadiums, permission="stadium:view",
             request_method="GET", renderer="admin/stadiums/list.jinja2")
def list_stadiums(context, request):
    q, city = text_field(request.GET, "q", 100), text_field(request.GET, "city", 100)
    rows, pager = paged(request, lambda limit, offset: stadiums.list_stadiums(
        request.dbsession, limit, offset, city=city or None, q=q or None))
    return {"stadiums": rows, "pager": pager, "q": q, "city": city}


@view_config(route_name="admin.stadiums.new", context=Stadiums, permission="stadium:edit",
             request_method="GET", renderer="admin/stadiums/new.jinja2")
def new_stadium_form(context, request):
    return {"values": {}}


@view_config(route_name="admin.stadiums.new", context=Stadiums, permission="stadium:edit",
             request_method="POST", renderer="admin/stadiums/new.jinja2")
def create_stadium(context, request):
    values = {field: text_field(request.POST, field, 300) for field in STADIUM_FIELDS}
    try:
        stadium = stadiums.create_stadium(request.dbsession, values["name"], values["city"], values["address"])
        audit.record(request.dbsession, request.identity.id, "stadium.create", "stadium", stadium.id,
                     name=stadium.name)
    except Problem as problem:
        return {"values": values, "errors": rejected(request, problem, fields=STADIUM_FIELDS)}
    flash(request, f"Stadium “{stadium.name}” created. Now add its sections.")
    return HTTPSeeOther(request.route_url("admin.stadium", stadium_id=stadium.id))


def _detail(request, stadium, forms=None, values=None):
    sections = list(stadium.sections)
    layout = stadiums.layout(request.dbsession, stadium.id)
    return {
        "stadium": stadium,
        "sections": sections,
        "seat_count": stadiums.seat_count(request.dbsession, stadium.id),
        "picture": stadium_picture(layout, sections),
        "forms": forms or {},
        "values": values or {},
    }


@view_config(route_name="admin.stadium", context=AdminStadium, permission="stadium:view",
             request_method="GET", renderer="admin/stadiums/detail.jinja2")
def stadium_detail(context, request):
    return _detail(request, context.stadium)


@view_config(route_name="admin.stadium", context=AdminStadium, permission="stadium:edit",
             request_method="POST", renderer="admin/stadiums/detail.jinja2")
def update_stadium(context, request):
    values = {field: text_field(request.POST, field, 300) for field in STADIUM_FIELDS}
    stadium = context.stadium
    try:
        before = {field: getattr(stadium, field) for field in STADIUM_FIELDS}
        stadiums.update_stadium(request.dbsession, stadium, dict(values))
        changed = {field: values[field] for field in STADIUM_FIELDS if before[field] != values[field]}
        if changed:
            audit.record(request.dbsession, request.identity.id, "stadium.update", "stadium", stadium.id, **changed)
    except Problem as problem:
        errors = rejected(request, problem, fields=STADIUM_FIELDS)
        request.dbsession.refresh(stadium)
        return _detail(request, stadium, {"stadium": errors}, {"stadium": values})
    flash(request, "Stadium saved.")
    return HTTPSeeOther(request.route_url("admin.stadium", stadium_id=stadium.id))


def row_specs(params):
    """The builder's fields -> the service's compact spec ``[{label, seats}]``."""
    errors = []
    row_count = int_field(params, "row_count", errors, minimum=1, maximum=stadiums.MAX_ROWS_PER_SECTION)
    seats = int_field(params, "seats_per_row", errors, minimum=1, maximum=stadiums.MAX_SEATS_PER_ROW)
    extra = int_field(params, "extra_per_row", errors, required=False, minimum=0, maximum=50) or 0
    first = text_field(params, "first_row", 10) or "1"
    if is_decimal(first):
        labels = [str(int(first) + index) for index in range(row_count or 0)]
    elif len(first) == 1 and first.isalpha() and first.isascii():
        start = ord(first.upper())
        if row_count and start + row_count - 1 > ord("Z"):
            errors.append(field_error("first_row", f"runs out of letters: {row_count} rows from {first.upper()} pass Z"))
        labels = [chr(start + index) for index in range(row_count or 0)]
    else:
        errors.append(field_error("first_row", "must be a number (1, 2, 3…) or a letter (A, B, C…)"))
        labels = []
    if errors:
        return [], errors
    return [{"label": label, "seats": seats + index * extra} for index, label in enumerate(labels)], errors


@view_config(route_name="admin.stadium.sections", context=AdminStadium, permission="stadium:edit",
             request_method="POST", renderer="admin/stadiums/detail.jinja2")
def add_section(context, request):
    stadium = context.stadium
    values = {field: text_field(request.POST, field, 100) for field in SECTION_FIELDS}
    try:
        rows, form_errors = row_specs(request.POST)
        # With the builder's fields wrong, the service still checks the name (empty, taken) on
        # a stand-in row, so every error shows at once; the transaction is doomed either way.
        section = all_errors(form_errors, lambda: stadiums.add_section(
            request.dbsession, stadium, values["name"], rows or [{"label": "1", "seats": 1}]),
            "The section is not valid.")
        audit.record(request.dbsession, request.identity.id, "stadium.section_create", "stadium", stadium.id,
                     section_id=section.id, name=section.name, rows=len(rows), seats=section.seat_count)
    except Problem as problem:
        errors = rejected(request, problem, SECTION_ALIASES, SECTION_FIELDS)
        request.dbsession.expire(stadium)
        return _detail(request, stadium, {"section": errors}, {"section": values})
    flash(request, f"Section “{section.name}” added: {len(rows)} rows, {section.seat_count} seats.")
    return HTTPSeeOther(request.route_url("admin.stadium", stadium_id=stadium.id, _anchor="sections"))


@view_config(route_name="admin.stadium.section.delete", context=AdminStadium, permission="stadium:edit",
             request_method="POST")
def delete_section(context, request):
    stadium = context.stadium
    section_id = request.matchdict["section_id"]
    if not is_decimal(section_id) or len(section_id) > 18:
        raise ValidationFailed("No such section.")
    section = next((s for s in stadium.sections if s.id == int(section_id)), None)
    stadiums.delete_section(request.dbsession, stadium, int(section_id))  # 404/409 -> error page
    audit.record(request.dbsession, request.identity.id, "stadium.section_delete", "stadium", stadium.id,
                 section_id=int(section_id), name=section.name if section else None)
    flash(request, f"Section “{section.name if section else section_id}” removed.")
    return HTTPSeeOther(request.route_url("admin.stadium", stadium_id=stadium.id, _anchor="sections"))
