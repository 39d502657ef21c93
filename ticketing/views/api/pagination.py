"""Offset pagination shared by every list endpoint: ``limit`` (1-100) and ``offset``."""
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def page_params(request):
    query = request.openapi_validated.parameters.query
    return query.get("limit", DEFAULT_LIMIT), query.get("offset", 0)


def page(request, items, total, limit, offset):
    following = offset + limit
    next_url = None
    if following < total:
        params = dict(request.GET)
        params.update({"limit": str(limit), "offset": str(following)})
        next_url = request.current_route_path(_query=params)
    return {"items": items, "total": total, "limit": limit, "offset": offset, "next": next_url}
