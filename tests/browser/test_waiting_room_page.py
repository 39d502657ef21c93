"""The waiting room's page in Chromium, at laptop and phone width: turn it on, watch a fan's
join appear without reloading (static/admin/live.js under a strict CSP), pause after the
confirmation, and no horizontal scroll at 390 px."""
import pytest

from tests.functional.catalogue_helpers import published_match

from .conftest import log_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [1280, 390], ids=["laptop", "phone"])
def test_the_waiting_room_page_live(browser_page, user_factory, width):
    from playwright.sync_api import expect

    page = browser_page
    page.set_viewport_size({"width": width, "height": 860})
    staff = user_factory("staff")
    match, *_ = published_match(staff)
    log_in(page, staff.user["email"])

    page.goto(f"/admin/matches/{match['id']}")
    page.get_by_role("link", name="Waiting room").click()
    page.get_by_label("On: fans queue").check()
    page.get_by_label("Fans called per minute").fill("60")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Waiting room saved.")).to_be_visible()

    user_factory().post(f"/api/v1/matches/{match['id']}/queue", status=201)
    # The live figures refresh in place, every 3 seconds.
    expect(page.locator('[data-figure="bought"], [data-figure="waiting"]').first).to_be_visible()
    expect(page.locator("#live")).to_contain_text("1 joined", timeout=8000)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "horizontal scroll"

    page.get_by_role("button", name="Pause").click()  # the confirmation is accepted
    expect(page.get_by_role("button", name="Resume calling fans")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "horizontal scroll"
