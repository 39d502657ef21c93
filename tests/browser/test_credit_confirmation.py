"""The wallet credit's confirmation step in Chromium, at laptop and phone width: the amount
comes back in the federation's format and in words, a large credit waits, and an other
administrator approves it from the credits list (under the strict CSP of conftest.py)."""
import pytest

from .conftest import log_in

pytestmark = pytest.mark.browser



@pytest.mark.parametrize("viewport", [(1366, 768), (390, 844)], ids=["desktop", "phone"])
def test_a_large_credit_is_confirmed_in_words_then_approved(browser_page, user_factory, viewport):
    from playwright.sync_api import expect

    page = browser_page
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    staff, admin = user_factory("staff"), user_factory("admin")
    fan = user_factory(full_name="Ana Novak")
    log_in(page, staff.user["email"])

    page.goto(f"/admin/users/{fan.user['id']}")
    page.get_by_label("Amount").fill("1 250,5")  # what a person types: the form reads it
    page.get_by_role("button", name="Add money…").click()
    expect(page.locator("#top_up-amount-error")).to_contain_text("at most 500,00\u00a0€ for one credit")
    expect(page.locator("#top_up-reason-error")).to_contain_text("Reason is required")

    page.get_by_label("Amount").fill("250.50")
    page.get_by_label("Reason").fill("Seat broken at the last match")
    page.get_by_role("button", name="Add money…").click()
    expect(page.get_by_role("heading", name="Add 250,50\u00a0€ to Ana Novak's wallet?")).to_be_visible()
    expect(page.locator("#credit-words")).to_have_text("two hundred and fifty euro, fifty cents")
    expect(page.locator("#credit-approval")).to_contain_text("another administrator approves")
    confirm = page.get_by_role("button", name="Ask for approval of 250,50\u00a0€")
    expect(confirm).to_be_in_viewport()
    box = confirm.bounding_box()
    assert box["x"] >= 0 and box["width"] <= viewport[0], "the confirmation button is cut off"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "horizontal scroll"
    confirm.click()
    expect(page.get_by_role("status")).to_contain_text("waits for an administrator's approval")
    assert fan.get("/api/v1/wallet").json["balance"] == 0

    page.get_by_role("button", name="Log out").click()
    log_in(page, admin.user["email"])
    page.goto("/admin/credits")
    expect(page.locator("#credits-table")).to_contain_text("Seat broken at the last match")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("Approved: 250,50\u00a0€ added")
    assert fan.get("/api/v1/wallet").json["balance"] == 25_050
