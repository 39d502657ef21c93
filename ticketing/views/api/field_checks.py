"""Field rules beyond the OpenAPI schema, run on a body that already failed the schema.

A request body is validated twice: by the schema (types, required fields, lengths), then by
its service (a well-formed e-mail, a strong password, seat_ids or quantity). A client that
got the schema's errors alone would fix them, send again, and only then learn of the rest.
So when the schema fails, the service's own field checks run on the same body too, on the
fields whose types are right, and the answer lists every bad field of both at once
(``ticketing/openapi/validation.py`` calls them).
"""
from ticketing.services import accounts, holds

#: route name -> the service's field checks: ``function(body) -> [field errors]``
FIELD_CHECKS = {
    "api.auth.signup": accounts.signup_field_errors,
    "api.match.holds": holds.request_field_errors,
}


def with_service_checks(route_name, body, schema_errors):
    """``schema_errors`` and the service's field errors for the same body, each once."""
    check = FIELD_CHECKS.get(route_name)
    if check is None or not isinstance(body, dict):
        return schema_errors
    errors = list(schema_errors)
    for error in check(body):
        if error not in errors:
            errors.append(error)
    return errors
