"""Schema fuzzing: every operation of the served OpenAPI document, as three kinds of caller.

Schemathesis generates valid and invalid requests from the spec; each response must not be a
server error, must use a documented status code and content type, and must match the
documented schema. Bounded examples per operation keep the suite within minutes.
"""
import hypothesis
import pytest
import schemathesis
from schemathesis.specs.openapi import checks as openapi_checks
from schemathesis import checks as core_checks

from ticketing.openapi import SPEC_PATH

from ..functional.catalogue_helpers import published_match

EXAMPLES = 12

# Loaded from the file the app serves (collection happens before the app exists); the calls
# below go to the live WSGI app, and another test checks the served document is this file.
schema = schemathesis.openapi.from_path(SPEC_PATH)

CHECKS = [
    core_checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def callers(wsgi_app, engine):
    """An anonymous caller, a customer with a hold and an order, and a staff member, plus a
    published match so that generated ids sometimes hit real rows."""
    import webtest

    from ..conftest import _truncate_all, make_user

    _truncate_all(engine)
    app = webtest.TestApp(wsgi_app, extra_environ={"REMOTE_ADDR": "10.20.30.40"})
    staff = make_user(app, engine, "staff")
    # Confirmed, so fuzzed transfers and withdrawals reach past decision 0056's 403.
    fan = make_user(app, engine, "customer", verified=True)
    match, *_ = published_match(staff, name="Fuzz Arena")
    fan.post("/api/v1/wallet/top-ups", {"amount": 50_000}, status=201)
    hold = fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201).json
    fan.post(f"/api/v1/holds/{hold['id']}/checkout", status=201)
    return {
        "anonymous": {},
        "customer": {"Authorization": f"Bearer {fan.token}"},
        "staff": {"Authorization": f"Bearer {staff.token}"},
    }


@pytest.mark.slow
@schema.parametrize()
@hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_every_operation_survives_fuzzing(case, callers, wsgi_app):
    if case.headers and "Authorization" in case.headers:
        case.headers.pop("Authorization")
    for headers in callers.values():
        case.call_and_validate(headers=dict(headers), checks=CHECKS, app=wsgi_app)


def test_the_served_document_is_the_fuzzed_one(testapp):
    import yaml

    with open(SPEC_PATH, encoding="utf-8") as spec_file:
        assert testapp.get("/api/v1/openapi.json").json == yaml.safe_load(spec_file)
