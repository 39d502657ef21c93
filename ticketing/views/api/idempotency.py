"""The ``Idempotency-Key`` view decorator (protocol in ticketing.services.idempotency)."""
from pyramid.response import Response

from ticketing.problems import Problem
from ticketing.renderers import dumps
from ticketing.services import idempotency
from ticketing.services.rate_limits import rate_limit_headers

from .limits import request_count


def idempotent(scope, rate_limit=None, location=None):
    """Decorate a view whose effects must happen once per key (holds, checkout, top-ups).

    ``rate_limit``: a scope of limits.request_count to count the request against first,
    in the same round trip as the key's claim when the request has a key (a request over
    a limit gets 429 and leaves its key unclaimed). ``location``: (route name, id parameter)
    of what a 201 created, so that a replay carries the first answer's ``Location`` too
    (built from the stored body's ``id``). A counted request's answer says where the client
    stands (RateLimit and RateLimit-Policy, services/rate_limits.py)."""

    def decorator(view):
        def idempotent_view(context, request):
            count = request_count(request, rate_limit) if rate_limit else None
            try:
                response = _idempotent_view(view, context, request, scope, count, location)
            except Problem as problem:
                if count:  # a 409 or 422 counted too: the client still learns where it stands
                    problem.headers = {**rate_limit_headers([count]), **problem.headers}
                raise
            if count:
                response.headers.update(rate_limit_headers([count]))
            return response

        return idempotent_view

    return decorator


def _idempotent_view(view, context, request, scope, count, location):
    engine = request.registry["db_autocommit_engine"]
    key = request.headers.get("Idempotency-Key")
    if key is None or request.authenticated_userid is None:
        if count:
            count.hit(engine)
        return view(context, request)
    user_id = request.authenticated_userid
    fingerprint = idempotency.request_fingerprint(request.method, request.path, request.body)
    claim = idempotency.begin(engine, user_id, key, scope, fingerprint, count)
    if isinstance(claim, idempotency.Replay):
        replay = claim
        response = Response(
            body=dumps(replay.body),
            status=replay.status,
            content_type="application/json",
            charset=None,
        )
        response.headers["Idempotent-Replayed"] = "true"
        if location and replay.status == 201 and isinstance(replay.body, dict) and "id" in replay.body:
            route, parameter = location
            response.location = request.route_path(route, **{parameter: replay.body["id"]})
        return response

    def release(*_):
        idempotency.release(engine, user_id, key, claim)

    transaction = request.tm.get()
    transaction.addAfterAbortHook(release)
    transaction.addAfterCommitHook(lambda committed: None if committed else release())
    response = view(context, request)
    if 200 <= response.status_code < 300:
        # The body as rendered (JSON text): stored as jsonb without parsing it back here.
        idempotency.record(request.dbsession, user_id, key, claim, response.status_code,
                           response.body.decode("utf-8"))
    else:
        transaction.addAfterCommitHook(lambda committed: release())
    return response
