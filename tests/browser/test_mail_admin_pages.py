"""The admin's mail pages in Chromium, at desktop and phone width: the user page's "Send
password reset link", and the match page's progress of the notice to the ticket holders
(queued, then sent by the mail sender), with no horizontal scroll at 390 px."""
import pytest

from tests.functional.catalogue_helpers import published_match
from tests.mail.conftest import (  # noqa: F401
    deliver,
    inbox,
    session_factory,
    smtp_server,
    smtp_transport,
)

from .conftest import log_in

pytestmark = pytest.mark.browser


def _no_horizontal_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "horizontal scroll"


@pytest.mark.parametrize("width,height", [(1366, 768), (390, 844)], ids=["desktop", "phone"])
def test_reset_button_and_notice_progress(browser_page, user_factory, deliver, width, height):  # noqa: F811
    from playwright.sync_api import expect

    page = browser_page
    page.set_viewport_size({"width": width, "height": height})
    staff = user_factory("staff")
    fan = user_factory(email="mojca@example.com")
    match, *_ = published_match(staff, prices=(2000,))
    fan.post("/api/v1/wallet/top-ups", {"amount": 5000}, status=201)
    hold = fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json
    fan.post(f"/api/v1/holds/{hold['id']}/checkout", status=201)
    deliver()

    log_in(page, staff.user["email"])

    page.goto(f"/admin/users/{fan.user['id']}")
    expect(page.locator("#account")).to_contain_text("not confirmed yet")
    page.get_by_role("button", name="Send password reset link").click()
    expect(page.locator(".flash")).to_contain_text("on its way to mojca@example.com")
    _no_horizontal_scroll(page)
    assert [m["Subject"] for m in deliver()] == ["Set a new password"]

    staff.post(f"/api/v1/matches/{match['id']}/cancel", status=200)
    page.goto(f"/admin/matches/{match['id']}")
    notices = page.locator("#notices")
    expect(notices).to_contain_text("Match cancelled")
    expect(notices).to_contain_text("0 of 1 queued")
    _no_horizontal_scroll(page)
    assert [m["To"] for m in deliver()] == ["mojca@example.com"]
    page.reload()
    expect(notices).to_contain_text("done")
    expect(notices.locator("progress")).to_have_attribute("value", "1")
    _no_horizontal_scroll(page)
