"""Account tools: disabling and enabling accounts (and what that does to tokens and sessions),
and opening staff accounts."""
from sqlalchemy import text

from tests.conftest import TEST_PASSWORD

from .conftest import AdminClient, field_error, flashes


def test_a_disabled_fan_cannot_log_in_and_their_tokens_stop_at_once(staff_admin, user_factory, testapp, engine):
    fan = user_factory(full_name="Jan Kos")
    fan.get("/api/v1/me", status=200)
    page = staff_admin.get(f"/admin/users/{fan.user['id']}")
    assert page.html.find(id="account-card").find("button").get_text() == "Disable account"
    response = staff_admin.post(f"/admin/users/{fan.user['id']}/active", {"active": "no"})
    assert "is disabled" in " ".join(flashes(response.follow()))

    fan.get("/api/v1/me", status=401)  # the access token issued before: refused on its next use
    testapp.post_json("/api/v1/auth/refresh", {"refresh_token": fan.user["refresh_token"]}, status=401)
    testapp.post_json("/api/v1/auth/login", {"email": fan.user["email"], "password": TEST_PASSWORD}, status=401)
    assert "inactive" in staff_admin.get(f"/admin/users?q={fan.user['email']}").text

    staff_admin.post(f"/admin/users/{fan.user['id']}/active", {"active": "yes"})
    # Enabled again: the old tokens stay dead (the generation moved on), a new login works.
    fan.get("/api/v1/me", status=401)
    testapp.post_json("/api/v1/auth/refresh", {"refresh_token": fan.user["refresh_token"]}, status=401)
    tokens = testapp.post_json("/api/v1/auth/login", {"email": fan.user["email"], "password": TEST_PASSWORD}).json
    testapp.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}, status=200)
    with engine.connect() as conn:
        actions = conn.execute(text("SELECT action FROM audit_log WHERE target_id = :u ORDER BY id"),
                               {"u": fan.user["id"]}).scalars().all()
    assert actions == ["user.disable", "user.enable"]


def test_only_admins_disable_staff_and_nobody_themselves(login_as, wsgi_app):
    staff, admin = login_as("staff"), login_as("admin")
    other_staff = login_as("staff")
    # Staff cannot disable a colleague, nor themselves; the page offers no button either.
    assert staff.get(f"/admin/users/{other_staff.user['id']}").html.find(id="account-card") is None
    staff.post(f"/admin/users/{other_staff.user['id']}/active", {"active": "no"}, status=403)
    staff.post(f"/admin/users/{staff.user['id']}/active", {"active": "no"}, status=403)
    admin.post(f"/admin/users/{admin.user['id']}/active", {"active": "no"}, status=403)

    admin.post(f"/admin/users/{other_staff.user['id']}/active", {"active": "no"})
    # The disabled colleague's open admin session ends, and they cannot log in again.
    other_staff.get("/admin/", status=303)
    AdminClient(wsgi_app).login(other_staff.user["email"], status=200)


def test_admins_open_staff_accounts_and_every_mistake_is_shown_at_once(login_as, wsgi_app, engine):
    staff, admin = login_as("staff"), login_as("admin")
    assert staff.get("/admin/users").html.find("a", string="New staff account") is None
    staff.get("/admin/users/new", status=403)

    page = admin.get("/admin/users").click("New staff account")
    page = admin.submit(page, "staff-form", email="not-an-address", full_name=" ", password="short",
                        role="staff", status=422)
    assert "valid e-mail" in field_error(page, "staff", "email")
    assert "must not be empty" in field_error(page, "staff", "full_name")
    assert "at least 8 characters" in field_error(page, "staff", "password")
    assert page.forms["staff-form"]["email"].value == "not-an-address"  # what was typed is kept

    response = admin.submit(page, "staff-form", email="Steward.Ana@Example.com", full_name="Ana Steward",
                            password="net-and-libero-9", role="staff")
    assert "can now log in as staff" in " ".join(flashes(response.follow()))
    AdminClient(wsgi_app).login("steward.ana@example.com", "net-and-libero-9")  # 303 into the admin
    page = admin.get("/admin/users/new")
    page = admin.submit(page, "staff-form", email="steward.ana@example.com", full_name="Again",
                        password="net-and-libero-9", role="staff", status=409)
    assert "already registered" in field_error(page, "staff", "email")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT role FROM users WHERE email = 'steward.ana@example.com'")).scalar_one() == "staff"
