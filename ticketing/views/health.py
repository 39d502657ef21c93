"""``GET /healthz``: 200 when the database answers, 503 when it does not.

Load balancers poll this, so it asks PostgreSQL with its own short-lived connection check and
never touches application tables.
"""
from pyramid.view import view_config
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ticketing.resources import Root


@view_config(route_name="healthz", context=Root, permission="public", renderer="json", request_method="GET")
def healthz(context, request):
    engine = request.registry["db_engine"]
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except DBAPIError:
        request.response.status = 503
        return {"status": "unavailable", "database": "unreachable"}
    return {"status": "ok", "database": "ok"}
