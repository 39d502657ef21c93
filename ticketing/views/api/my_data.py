"""The caller's own data: export it as JSON, or delete the account (decision 0057)."""
from pyramid.httpexceptions import HTTPNoContent
from pyramid.view import view_config

from ticketing.resources.accounts import Me
from ticketing.services import my_data


@view_config(route_name="api.me.data", context=Me, permission="me:manage", request_method="GET",
             renderer="json", openapi=True)
def export_my_data(context, request):
    request.response.headers["Content-Disposition"] = 'attachment; filename="my-box-office-data.json"'
    request.response.cache_control = "no-store"
    return my_data.export(request.dbsession, request.identity.user)


@view_config(route_name="api.me.deletion", context=Me, permission="me:manage", request_method="POST",
             openapi=True)
def delete_my_account(context, request):
    my_data.delete_account(request.dbsession, request.identity.user, request.openapi_validated.body["password"],
                           request.registry.settings["auth.bcrypt_rounds"])
    return HTTPNoContent()
