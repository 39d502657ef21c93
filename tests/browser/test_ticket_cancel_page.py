"""Staff cancel one ticket from the order page in a real Chromium, at desktop and phone
width (issue 25): the button asks first, the refund is flashed, the page does not overflow."""
import re

import pytest

from tests.functional.catalogue_helpers import published_match

from .conftest import log_in

pytestmark = pytest.mark.browser


DESKTOP, PHONE = {"width": 1366, "height": 768}, {"width": 390, "height": 844}


def test_cancel_one_ticket_from_the_order_page(browser_page, user_factory):
    expect = __import__("playwright.sync_api", fromlist=["expect"]).expect
    page = browser_page
    staff = user_factory("staff", full_name="Nina Steward")
    match, *_ = published_match(staff, prices=(2500,))
    fan = user_factory(full_name="Ana Novak")
    fan.post("/api/v1/wallet/top-ups", {"amount": 10_000}, status=201)
    hold = fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201).json
    order = fan.post(f"/api/v1/holds/{hold['id']}/checkout", status=201).json

    log_in(page, staff.user["email"])
    page.goto(f"/admin/orders/{order['id']}")
    buttons = page.get_by_role("button", name=re.compile(r"^Cancel this ticket and refund 25,00"))
    expect(buttons).to_have_count(2)
    first = buttons.first
    for viewport in (PHONE, DESKTOP):  # the button fits, and the page does not scroll sideways
        page.set_viewport_size(viewport)
        first.scroll_into_view_if_needed()
        box = first.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], viewport
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], viewport

    first.click()  # the confirmation dialog is accepted by the fixture
    expect(page.locator(".flash")).to_contain_text("25,00\xa0€ refunded")
    expect(buttons).to_have_count(1)
    expect(page.locator("h1 .badge")).to_have_text("Paid")
    assert fan.get("/api/v1/wallet").json["balance"] == 10_000 - 2500
