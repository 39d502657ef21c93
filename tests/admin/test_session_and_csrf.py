"""Session fixation and CSRF across the whole admin (hardening issue)."""
from sqlalchemy import text

from ..functional.catalogue_helpers import published_match
from .conftest import AdminClient


def test_login_rotates_the_session_cookie(wsgi_app, user_factory):
    staff = user_factory("staff")
    client = AdminClient(wsgi_app, staff)
    client.get("/admin/login")  # an anonymous session (the attacker could have planted it)
    before = client.app.cookies.get("ticketing_session")
    assert before, "the login page should start a session for its CSRF token"
    client.login(staff.user["email"])
    after = client.app.cookies.get("ticketing_session")
    assert after and after != before

    # Replaying the pre-login cookie does not give access: it never became authenticated.
    planted = AdminClient(wsgi_app, staff)
    planted.app.set_cookie("ticketing_session", before)
    planted.get("/admin/", status=303)


def test_every_state_changing_admin_route_refuses_a_request_without_csrf_token(wsgi_app, login_as, user_factory,
                                                                               engine):
    """Walk every admin view that accepts POST: without the token each answers 400."""
    introspector = wsgi_app.registry.introspector
    posting_routes = set()
    for view in introspector.get_category("views"):
        intr = view["introspectable"]
        route = intr["route_name"] or ""
        methods = intr["request_methods"] or ()
        methods = (methods,) if isinstance(methods, str) else methods
        if route.startswith("admin.") and "POST" in methods:
            posting_routes.add(route)
    assert len(posting_routes) >= 10, posting_routes
    admin = login_as("admin")  # may reach every view, so only the CSRF check can refuse
    fan = user_factory("customer")
    match, stadium, sections, _ = published_match(admin.api)
    fan.post("/api/v1/wallet/top-ups", {"amount": 50_000}, status=201)
    hold = fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json
    order = fan.post(f"/api/v1/holds/{hold['id']}/checkout", status=201).json
    with engine.begin() as conn:  # a pending staff credit, for the approve/reject/reverse routes
        credit_id = conn.execute(text(
            "INSERT INTO wallet_credits (user_id, amount, currency, reason, request_key, requested_by) "
            "VALUES (:u, 100, 'EUR', 'csrf test', 'k', :u) RETURNING id"), {"u": fan.user["id"]}).scalar_one()
    ids = {"{stadium_id}": stadium["id"], "{match_id}": match["id"], "{order_id}": order["id"],
           "{user_id}": fan.user["id"], "{section_id}": sections[0]["id"], "{credit_id}": credit_id,
           "{category_id}": match["categories"][0]["id"] if match.get("categories") else 1}
    mapper = wsgi_app.routes_mapper
    for name in sorted(posting_routes):
        pattern = mapper.get_route(name).pattern
        url = pattern
        for placeholder, value in ids.items():
            url = url.replace(placeholder, str(value))
        for placeholder in ("{", "}"):
            assert placeholder not in url, f"unfilled placeholder in {pattern}"
        response = admin.app.post(url, {"anything": "1"}, status="*")
        assert response.status_int == 400 and "This form has expired" in response.text, (name, url, response.status_int)


def _copy_of(wsgi_app, client):
    """Another browser holding a copy of ``client``'s session cookie (a stolen cookie)."""
    copy = AdminClient(wsgi_app, client.api)
    copy.app.set_cookie("ticketing_session", client.app.cookies.get("ticketing_session"))
    return copy


def test_logout_ends_the_session_for_every_copy_of_its_cookie(wsgi_app, login_as):
    staff = login_as("staff")
    stolen = _copy_of(wsgi_app, staff)
    stolen.get("/admin/", status=200)  # the copy works while the session is open
    staff.post("/admin/logout")
    stolen.get("/admin/", status=303)  # signed and unexpired, but ended on the server
    staff.login(staff.user["email"])  # a new login opens a new session
    staff.get("/admin/", status=200)


def test_a_role_change_ends_sessions_even_when_the_role_comes_back(wsgi_app, login_as):
    staff, admin = login_as("staff"), login_as("admin")
    user_id = staff.user["id"]
    for role in ("customer", "staff"):  # demoted, then promoted back
        admin.post(f"/admin/users/{user_id}/role", {"role": role})
    staff.get("/admin/", status=303)  # the session opened before the changes is over


def test_a_session_ends_twelve_hours_after_login_however_busy(wsgi_app, login_as, monkeypatch):
    from ticketing import security

    staff = login_as("staff")
    staff.get("/admin/", status=200)
    later = security.time.time() + security.SESSION_MAX_AGE_SECONDS + 1
    monkeypatch.setattr(security.time, "time", lambda: later)  # the session's own clock is not moved
    staff.get("/admin/", status=303)


def test_an_access_token_from_before_a_demotion_stays_dead_when_the_role_comes_back(wsgi_app, login_as, user_factory):
    """Access tokens carry the account's generation (claim gen): a role change moves it on, so
    a staff token issued before a demotion does not come back to life on re-promotion."""
    staff_api = user_factory("staff")
    staff_api.get("/api/v1/me", status=200)
    admin = login_as("admin")
    for role in ("customer", "staff"):
        admin.post(f"/admin/users/{staff_api.user['id']}/role", {"role": role})
    staff_api.get("/api/v1/me", status=401)
