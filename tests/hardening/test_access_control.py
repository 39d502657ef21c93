"""Every API route × every role, walked against the ACLs.

The table below is the access policy in one screen. The test fails when a route exists that
the table does not mention (so a new route cannot ship without someone deciding who may call
it) and when any route answers a role differently from the table. Owner-scoped objects answer
404 to other customers, never 403, so ids cannot be probed.
"""
import json

import pytest

from ..conftest import verify_email
from ..functional.catalogue_helpers import published_match

ROLES = ("anonymous", "customer", "other", "staff", "admin")
OK = "ok"  # any status that is not 401/403/404 (a 409/422 still means "you may")
# Allowed, but an earlier allowed role may already have deleted the object: the service (which
# runs only after the permission check) then answers 404.
OK_ONCE = "ok once"

# (route name, method, path, body): {role: expected}
POLICY = {
    ("api.openapi_json", "GET", "/api/v1/openapi.json", None): dict.fromkeys(ROLES, OK),
    ("api.openapi_yaml", "GET", "/api/v1/openapi.yaml", None): dict.fromkeys(ROLES, OK),
    ("api.docs", "GET", "/api/v1/docs", None): dict.fromkeys(ROLES, OK),
    ("healthz", "GET", "/healthz", None): dict.fromkeys(ROLES, OK),
    ("api.auth.signup", "POST", "/api/v1/auth/signup", '{"email": "x", "password": "y", "full_name": "z"}'): dict.fromkeys(ROLES, OK),
    ("api.auth.login", "POST", "/api/v1/auth/login", '{"email": "x@example.com", "password": "y"}'): dict.fromkeys(ROLES, 401),
    ("api.auth.refresh", "POST", "/api/v1/auth/refresh", '{"refresh_token": "nope"}'): dict.fromkeys(ROLES, 401),
    ("api.auth.logout", "POST", "/api/v1/auth/logout", '{"refresh_token": "nope"}'): dict.fromkeys(ROLES, OK),
    ("api.me", "GET", "/api/v1/me", None): {"anonymous": 401, "customer": OK, "other": OK, "staff": OK, "admin": OK},
    ("api.auth.verify_email", "POST", "/api/v1/auth/verify-email", '{"token": "x"}'): dict.fromkeys(ROLES, OK),
    ("api.auth.password_reset", "POST", "/api/v1/auth/password-reset", '{"email": "x@example.com"}'): dict.fromkeys(ROLES, OK),
    ("api.auth.password_reset.confirm", "POST", "/api/v1/auth/password-reset/confirm", '{"token": "x", "password": "y"}'): dict.fromkeys(ROLES, OK),
    ("api.me.verification_email", "POST", "/api/v1/me/verification-email", None): {"anonymous": 401, "customer": OK, "other": OK, "staff": OK, "admin": OK},
    ("api.me.data", "GET", "/api/v1/me/data", None): {"anonymous": 401, "customer": OK, "other": OK, "staff": OK, "admin": OK},
    ("api.me.deletion", "POST", "/api/v1/me/deletion", '{}'): {"anonymous": 401, "customer": OK, "other": OK, "staff": OK, "admin": OK},
    ("api.stadiums", "GET", "/api/v1/stadiums", None): dict.fromkeys(ROLES, OK),
    ("api.stadiums", "POST", "/api/v1/stadiums", '{"name": "", "city": ""}'): {"anonymous": 401, "customer": 403, "other": 403, "staff": OK, "admin": OK},
    ("api.stadium", "GET", "/api/v1/stadiums/{stadium}", None): dict.fromkeys(ROLES, OK),
    ("api.stadium", "PATCH", "/api/v1/stadiums/{stadium}", '{}'): {"anonymous": 401, "customer": 403, "other": 403, "staff": OK, "admin": OK},
    ("api.stadium.sections", "POST", "/api/v1/stadiums/{stadium}/sections", '{"name": "", "rows": []}'): {"anonymous": 401, "customer": 403, "other": 403, "staff": OK, "admin": OK},
    ("api.stadium.section", "DELETE", "/api/v1/stadiums/{stadium}/sections/{section}", None): {"anonymous": 401, "customer": 403, "other": 403, "staff": OK, "admin": OK_ONCE},
    ("api.stadium.seats", "GET", "/api/v1/stadiums/{stadium}/seats", None): dict.fromkeys(ROLES, OK),
    ("api.matches", "GET", "/api/v1/matches", None): dict.fromkeys(ROLES, OK),
    ("api.matches", "POST", "/api/v1/matches", '{}'): {"anonymous": 401, "customer": 403, "other": 403, "staff": OK, "admin": OK},
    ("api.match", "GET", "/api/v1/matches/{match}", None): dict.fromkeys(ROLES, OK),
    ("api.match", "PATCH", "/api/v1/matches/{match}", '{}'): {"anonymous": 401, "customer": 403, "other": 403, "staff": OK, "admin": OK},
    ("api.match.categories", "GET", "/api/v1/matches/{match}/categories", None): dict.fromkeys(ROLES, OK),
    ("api.match.categories", "POST", "/api/v1/matches/{match}/categories", '{"name": "x", "price": 1}'): {"anonymous": 401, "customer": 403, "other": 403, "staff": OK, "admin": OK},
    ("api.match.seating", "GET", "/api/v1/matches/{match}/seating", None): {"anonymous": 401, "customer": 403, "other": 403, "staff": OK, "admin": OK},
    ("api.match.seating", "PUT", "/api/v1/matches/{match}/seating", '{}'): {"anonymous": 401, "customer": 403, "other": 403, "staff": OK, "admin": OK},
    ("api.match.publish", "POST", "/api/v1/matches/{match}/publish", None): {"anonymous": 401, "customer": 403, "other": 403, "staff": OK, "admin": OK},
    ("api.match.close", "POST", "/api/v1/matches/{draft}/close", None): {"anonymous": 404, "customer": 404, "other": 404, "staff": OK, "admin": OK},
    ("api.match.cancel", "POST", "/api/v1/matches/{cancelled}/cancel", None): {"anonymous": 401, "customer": 403, "other": 403, "staff": OK, "admin": OK},
    ("api.match.seats", "GET", "/api/v1/matches/{match}/seats", None): dict.fromkeys(ROLES, OK),
    ("api.match.summary", "GET", "/api/v1/matches/{match}/summary", None): dict.fromkeys(ROLES, OK),
    ("api.match.report", "GET", "/api/v1/matches/{match}/report", None): {"anonymous": 401, "customer": 403, "other": 403, "staff": OK, "admin": OK},
    ("api.match.waiting_room", "GET", "/api/v1/matches/{match}/waiting-room", None): {"anonymous": 401, "customer": 403, "other": 403, "staff": OK, "admin": OK},
    ("api.match.waiting_room", "PUT", "/api/v1/matches/{match}/waiting-room", '{}'): {"anonymous": 401, "customer": 403, "other": 403, "staff": OK, "admin": OK},
    ("api.match.queue", "GET", "/api/v1/matches/{match}/queue", None): dict.fromkeys(ROLES, OK),
    ("api.match.queue", "POST", "/api/v1/matches/{match}/queue", None): {"anonymous": 401, "customer": OK, "other": OK, "staff": 403, "admin": 403},
    ("api.match.queue.me", "GET", "/api/v1/matches/{match}/queue/me", None): {"anonymous": 401, "customer": 404, "other": 404, "staff": 403, "admin": 403},
    ("api.match.queue.admission", "POST", "/api/v1/matches/{match}/queue/admission", '{"pass": "x"}'): {"anonymous": 401, "customer": OK, "other": OK, "staff": 403, "admin": 403},
    ("api.match.holds", "POST", "/api/v1/matches/{match}/holds", '{}'): {"anonymous": 401, "customer": OK, "other": OK, "staff": 403, "admin": 403},
    ("api.match.check_ins", "POST", "/api/v1/matches/{match}/check-ins", '{"code": "x"}'): {"anonymous": 401, "customer": 403, "other": 403, "staff": OK, "admin": OK},
    ("api.wallet", "GET", "/api/v1/wallet", None): {"anonymous": 401, "customer": OK, "other": OK, "staff": 403, "admin": 403},
    ("api.wallet.top_ups", "POST", "/api/v1/wallet/top-ups", '{"amount": 0}'): {"anonymous": 401, "customer": OK, "other": OK, "staff": 403, "admin": 403},
    ("api.wallet.transactions", "GET", "/api/v1/wallet/transactions", None): {"anonymous": 401, "customer": OK, "other": OK, "staff": 403, "admin": 403},
    ("api.hold", "GET", "/api/v1/holds/{hold}", None): {"anonymous": 401, "customer": OK, "other": 404, "staff": OK, "admin": OK},
    ("api.hold", "DELETE", "/api/v1/holds/{hold}", None): {"anonymous": 401, "customer": OK, "other": 404, "staff": 403, "admin": 403},
    ("api.hold.checkout", "POST", "/api/v1/holds/{hold}/checkout", None): {"anonymous": 401, "customer": OK, "other": 404, "staff": 403, "admin": 403},
    ("api.orders", "GET", "/api/v1/orders", None): {"anonymous": 401, "customer": OK, "other": OK, "staff": OK, "admin": OK},
    ("api.order", "GET", "/api/v1/orders/{order}", None): {"anonymous": 401, "customer": OK, "other": 404, "staff": OK, "admin": OK},
    ("api.order.cancel", "POST", "/api/v1/orders/{paid_order}/cancel", None): {"anonymous": 401, "customer": OK, "other": 404, "staff": OK, "admin": OK},
    ("api.tickets.public_key", "GET", "/api/v1/tickets/public-key", None): dict.fromkeys(ROLES, OK),
    ("api.ticket", "GET", "/api/v1/tickets/{ticket}", None): {"anonymous": 401, "customer": OK, "other": 404, "staff": OK, "admin": OK},
    ("api.ticket.qr", "GET", "/api/v1/tickets/{ticket}/qr.svg", None): {"anonymous": 401, "customer": OK, "other": 404, "staff": OK, "admin": OK},
    ("api.wallet.withdrawals", "POST", "/api/v1/wallet/withdrawals", '{"amount": 0}'): {"anonymous": 401, "customer": OK, "other": OK, "staff": 403, "admin": 403},
    ("api.tickets", "GET", "/api/v1/tickets", None): {"anonymous": 401, "customer": OK, "other": OK, "staff": 403, "admin": 403},
    ("api.ticket.pdf", "GET", "/api/v1/tickets/{ticket}.pdf", None): {"anonymous": 401, "customer": OK, "other": 404, "staff": OK, "admin": OK},
    ("api.ticket.transfer", "POST", "/api/v1/tickets/{ticket}/transfer", '{"email": "nobody@example.com"}'): {"anonymous": 401, "customer": OK, "other": 404, "staff": 403, "admin": 403},
    ("api.ticket.cancel", "POST", "/api/v1/tickets/{ticket}/cancel", None): {"anonymous": 401, "customer": OK, "other": 404, "staff": OK, "admin": OK},
}


def _api_views(registry):
    """(route name, method, permission) of every view bound to an API route."""
    found = set()
    for view in registry.introspector.get_category("views"):
        intr = view["introspectable"]
        route = intr["route_name"]
        if not route or not (route.startswith("api.") or route == "healthz"):
            continue
        methods = intr["request_methods"] or ("GET",)
        methods = (methods,) if isinstance(methods, str) else methods
        permissions = [r.discriminator for r in view["related"] if r.category_name == "permissions"]
        for method in methods:
            found.add((route, method, permissions[0] if permissions else None))
    return found


def test_every_api_route_has_an_explicit_permission_and_a_row_in_the_policy(wsgi_app):
    views = _api_views(wsgi_app.registry)
    missing_permission = sorted((r, m) for r, m, p in views if p is None and r != "api.openapi_yaml")
    assert not missing_permission, f"views without an explicit permission: {missing_permission}"
    in_policy = {(route, method) for route, method, _, _ in POLICY}
    unlisted = sorted({(r, m) for r, m, _ in views} - in_policy)
    assert not unlisted, f"routes missing from the access policy table: {unlisted}"


@pytest.fixture
def world(staff, admin, customer, user_factory, anonymous, engine):
    match, stadium, sections, categories = published_match(staff, seats_per_row=10, rows=2, prices=(1000,))
    draft = staff.post("/api/v1/matches", {"stadium_id": stadium["id"], "home_team": "D", "away_team": "E",
                                           "starts_at": match["starts_at"]}, status=201).json
    doomed, *_ = published_match(staff, name="Doomed Arena")
    spare = staff.post(f"/api/v1/stadiums/{stadium['id']}/sections", {"name": "Spare", "rows": [{"label": "1", "seats": 2}]},
                       status=201).json
    # The table is about roles: the customer has confirmed their address, so decision 0056's
    # rule (tests/functional/test_unverified_accounts.py) does not answer for the ACLs.
    verify_email(customer, engine)
    customer.post("/api/v1/wallet/top-ups", {"amount": 50_000}, status=201)
    bought = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json
    order = customer.post(f"/api/v1/holds/{bought['id']}/checkout", status=201).json
    paid = customer.post(f"/api/v1/matches/{doomed['id']}/holds", {"quantity": 1}, status=201).json
    paid_order = customer.post(f"/api/v1/holds/{paid['id']}/checkout", status=201).json
    hold = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json
    ids = {
        "stadium": stadium["id"], "section": spare["id"], "match": match["id"], "draft": draft["id"],
        "cancelled": doomed["id"], "hold": hold["id"], "order": order["id"], "paid_order": paid_order["id"],
        "ticket": order["tickets"][0]["id"],
    }
    clients = {"anonymous": anonymous, "customer": customer, "other": user_factory(), "staff": staff, "admin": admin}
    return ids, clients


def test_each_route_answers_each_role_as_the_policy_says(world):
    ids, clients = world
    mismatches = []
    # Read-only and harmless calls first, state-changing ones (cancel, checkout) last.
    ordered = sorted(POLICY.items(), key=lambda item: item[0][1] != "GET")
    for (route, method, path, body), expected_by_role in ordered:
        url = path.format(**ids)
        for role in ("anonymous", "other", "staff", "admin", "customer"):
            expected = expected_by_role[role]
            client = clients[role]
            if method == "GET":
                response = client.get(url, expect_errors=True)
            elif method == "DELETE":
                response = client.delete(url, expect_errors=True)
            else:
                payload = json.loads(body) if body is not None else {}
                response = getattr(client, method.lower())(url, payload, expect_errors=True)
            status = response.status_int
            if expected == OK:
                ok = status not in (401, 403, 404) and status < 500
            elif expected == OK_ONCE:
                ok = status not in (401, 403) and status < 500
            else:
                ok = status == expected
            if not ok:
                mismatches.append((route, method, role, expected, status))
    assert not mismatches, "\n".join(map(str, mismatches))
