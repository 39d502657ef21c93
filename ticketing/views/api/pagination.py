"""Offset pagination shared by every list endpoint: ``limit`` (1-100) and ``offset``.

Every page has the same shape (``items``, ``total``, ``limit``, ``offset``, ``has_more``,
``next``) and an RFC 8288 ``Link`` header. ``next`` is an absolute URL: a client follows it
as it is, whatever base URL its generated code was given. The path-only form it replaced
(``/api/v1/matches?…``) already held the server's base path, so a generated client that
joined it to its base URL asked for ``/api/v1/api/v1/…`` (issue 28, decision 0045).
"""
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def page_params(request):
    query = request.openapi_validated.parameters.query
    return query.get("limit", DEFAULT_LIMIT), query.get("offset", 0)


def _page_url(request, limit, offset):
    params = dict(request.GET)
    params.update({"limit": str(limit), "offset": str(offset)})
    return request.current_route_url(_query=params)


def page(request, items, total, limit, offset):
    following = offset + limit
    has_more = following < total
    next_url = _page_url(request, limit, following) if has_more else None
    links = []
    if next_url:
        links.append(f'<{next_url}>; rel="next"')
    if offset > 0:
        links.append(f'<{_page_url(request, limit, max(0, offset - limit))}>; rel="prev"')
    links.append(f'<{_page_url(request, limit, 0)}>; rel="first"')
    request.response.headers["Link"] = ", ".join(links)
    return {"items": items, "total": total, "limit": limit, "offset": offset, "has_more": has_more,
            "next": next_url}
