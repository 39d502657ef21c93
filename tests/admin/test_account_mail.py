"""The admin's side of mail: the "send password reset" button on a user's page, and the
progress of the notices to a match's ticket holders on the match page."""
from tests.mail.conftest import deliver, inbox, session_factory, smtp_server, smtp_transport  # noqa: F401
from tests.mail.test_accounts import token_in

from .conftest import flashes
from .helpers import published_match


def test_staff_send_a_fan_a_password_reset_link(staff_admin, user_factory, deliver, anonymous):  # noqa: F811
    fan = user_factory(email="luka@example.com")
    deliver()
    page = staff_admin.get(f"/admin/users/{fan.user['id']}")
    assert "not confirmed yet" in page.html.find(id="account").get_text(" ")
    [form] = [f for f in page.forms.values() if f.action.endswith("/password-reset")]
    response = form.submit(status=303)
    assert "on its way to luka@example.com" in " ".join(flashes(response.follow()))
    [message] = deliver()
    assert message["To"] == "luka@example.com" and message["Subject"] == "Set a new password"
    anonymous.post("/api/v1/auth/password-reset/confirm",
                   {"token": token_in(message, "reset-password"), "password": "new-and-long-enough-1"}, status=204)
    assert "user.password_reset_sent" in staff_admin.get("/admin/audit").text


def test_the_match_page_shows_how_far_the_cancellation_notice_got(staff_admin, user_factory, deliver):  # noqa: F811
    match_id, *_ = published_match(staff_admin)
    fans = [user_factory(email=f"fan-{n}@example.com") for n in range(3)]
    for fan in fans:
        fan.post("/api/v1/wallet/top-ups", {"amount": 10_000}, status=201)
        hold = fan.post(f"/api/v1/matches/{match_id}/holds", {"quantity": 1}, status=201).json
        fan.post(f"/api/v1/holds/{hold['id']}/checkout", status=201)
    deliver()
    assert staff_admin.get(f"/admin/matches/{match_id}").html.find(id="notices") is None
    staff_admin.post(f"/admin/matches/{match_id}/cancel", {"confirm": "yes"})

    notices = staff_admin.get(f"/admin/matches/{match_id}").html.find(id="notices")
    row = notices.find("tbody").find("tr").get_text(" ", strip=True)
    assert "Match cancelled" in row and "0 of 3 queued" in row and "0 of 3" in row
    assert len(deliver()) == 3
    notices = staff_admin.get(f"/admin/matches/{match_id}").html.find(id="notices")
    row = notices.find("tbody").find("tr").get_text(" ", strip=True)
    assert "done" in row and "3 of 3" in row
    assert notices.find("progress")["value"] == "3"
