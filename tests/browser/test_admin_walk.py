"""The staff walk in a real Chromium against a live ``pserve``: log in, build a stadium with
two sections, schedule a match, price and seat it, publish, watch the seat map, refund an
order and check a ticket in at the gate. Screenshots of the dashboard and the seat map are
saved to var/screenshots/, or to docs/screenshots/ (linked from docs/admin.md) with
``ADMIN_SCREENSHOTS=docs/screenshots``."""
import os
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import TEST_PASSWORD

from ..purchases import buy
from .conftest import SCREENSHOTS

pytestmark = pytest.mark.browser


#: Set ADMIN_REVIEW_SCREENSHOTS=<dir> to also capture every page of the walk, at laptop and
#: tablet size, for reviewing the look (not committed).
REVIEW = Path(os.environ["ADMIN_REVIEW_SCREENSHOTS"]) if os.environ.get("ADMIN_REVIEW_SCREENSHOTS") else None


def _review(page, name):
    if REVIEW is None:
        return
    REVIEW.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(REVIEW / f"{name}-laptop.png"), full_page=True)
    size = page.viewport_size
    page.set_viewport_size({"width": 768, "height": 1024})
    page.screenshot(path=str(REVIEW / f"{name}-tablet.png"), full_page=True)
    page.set_viewport_size(size)


def _choose(select, text):
    """Pick the option whose label contains ``text`` (labels carry counts and prices too)."""
    select.select_option(select.locator("option", has_text=text).first.get_attribute("value"))


def test_staff_walk(browser_page, user_factory):
    page = browser_page
    expect = __import__("playwright.sync_api", fromlist=["expect"]).expect
    staff = user_factory("staff", full_name="Nina Steward")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # Anonymous: sent to the login page, then back to the dashboard.
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    page.get_by_label("E-mail").fill(staff.user["email"])
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    # A stadium with two sections, and its picture.
    page.get_by_role("link", name="Stadiums").click()
    page.get_by_role("link", name="New stadium").click()
    page.get_by_label("Name").fill("Hala Tivoli")
    page.get_by_label("City").fill("Ljubljana")
    page.get_by_role("button", name="Create stadium").click()
    expect(page.locator(".flash")).to_contain_text("Hala Tivoli")
    for name, rows, seats, first, extra in (("North Stand", "8", "18", "1", "1"), ("South Stand", "6", "14", "A", "2")):
        form = page.locator("#section-form")
        form.get_by_label("Section name").fill(name)
        form.get_by_role("spinbutton", name="Rows", exact=True).fill(rows)
        form.get_by_role("spinbutton", name="Seats per row", exact=True).fill(seats)
        form.get_by_label("First row label").fill(first)
        form.get_by_label("Extra seats per row").fill(extra)
        form.get_by_role("button", name="Add section").click()
        expect(page.locator(".flash")).to_contain_text(f"Section “{name}” added")
    seatmap = page.locator("svg#seatmap")
    expect(seatmap.locator("text.section-label")).to_have_text(["North Stand", "South Stand"])
    expect(seatmap.locator("rect")).to_have_count(8 * 18 + 28 + 6 * 14 + 30)
    _review(page, "stadium")

    # A match, two price categories, seating and a press block, then publication.
    page.get_by_role("link", name="New match here").click()
    kick_off = (datetime.now() + timedelta(days=21)).replace(hour=20, minute=0).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Home team").fill("ACH Volley")
    page.get_by_label("Away team").fill("Calcit Volley")
    page.get_by_label("Kick-off").fill(kick_off)
    page.get_by_role("button", name="Create match").click()
    expect(page.locator(".flash")).to_contain_text("scheduled as a draft")
    match_id = int(re.search(r"/admin/matches/(\d+)", page.url).group(1))
    for name, price in (("Premium", "40.00"), ("Standard", "25")):
        form = page.locator("#category-form")
        form.get_by_label("Name").fill(name)
        form.get_by_label("Price").fill(price)
        form.get_by_role("button", name="Add category").click()
        expect(page.locator(".flash")).to_contain_text(f"Category “{name}” added")
    for section, category in (("North Stand", "Premium"), ("South Stand", "Standard")):
        form = page.locator("#assign-form")
        _choose(form.get_by_label("Section"), section)
        _choose(form.get_by_label("Category"), category)
        form.get_by_role("button", name="Apply to seats").click()
        expect(page.locator(".flash")).to_contain_text("Seats assigned.")
    form = page.locator("#block-form")
    _choose(form.get_by_label("Section"), "North Stand")
    form.get_by_label("Row").fill("1")
    form.get_by_label("From seat").fill("1")
    form.get_by_label("To seat").fill("4")
    form.get_by_label("Reason").select_option("press")
    form.get_by_role("button", name="Block seats").click()
    expect(page.locator(".flash")).to_contain_text("4 blocked")
    _review(page, "match-draft")
    page.get_by_role("link", name=re.compile(r"^Publish")).click()  # the confirmation step
    page.get_by_role("button", name=re.compile(r"^Publish")).click()
    expect(page.locator(".flash")).to_contain_text("Published:")
    expect(page.locator("h1 .badge")).to_have_text("On sale")

    # Fans buy through the JSON API meanwhile.
    refunded_fan, admitted_fan = user_factory(full_name="Ana Novak"), user_factory(full_name="Marko Zupan")
    refunded = buy(refunded_fan, match_id, 2, adjacent=True)
    kept = buy(admitted_fan, match_id, 3, adjacent=True)

    # The live seat map: sold seats show, a seat tells what it is, a free seat gets blocked.
    page.get_by_role("link", name="Live seat map", exact=True).click()
    seatmap = page.locator("svg#seatmap")
    expect(seatmap.locator("rect.st-sold")).to_have_count(5)
    expect(seatmap.locator("rect.st-blocked")).to_have_count(4)
    sold_seat = seatmap.locator("rect.st-sold").first
    sold_seat.hover()
    expect(page.locator("#seat-info")).to_contain_text(re.compile(r"row \d+ · seat \d+ · sold · Premium"))
    page.screenshot(path=str(SCREENSHOTS / "seat-map.png"), full_page=True)
    _review(page, "seat-map")
    free_seat = seatmap.locator("rect.st-available").last
    free_seat.click()
    expect(page.locator("#selection-summary")).to_have_text("1 seat(s) chosen on the map.")
    page.get_by_role("button", name="Block", exact=True).click()
    expect(page.locator(".flash")).to_have_text("Blocked 1 seat(s).")
    expect(page.locator("svg#seatmap rect.st-blocked")).to_have_count(5)

    # Find the first fan's order by e-mail and refund it after the confirmation step.
    page.get_by_role("link", name="Orders", exact=True).click()
    page.get_by_label("Order number, e-mail or name").fill(refunded_fan.user["email"])
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=f"#{refunded['id']}").click()
    expect(page.locator(".ticket")).to_have_count(2)
    expect(page.locator(".ticket svg.qr-code")).to_have_count(2)
    _review(page, "order")
    page.get_by_role("link", name="Cancel and refund…").click()
    page.get_by_label("Reason").fill("fan is ill")
    page.get_by_role("button", name=re.compile("Cancel order and refund")).click()
    expect(page.locator(".flash")).to_contain_text("80,00\xa0€ refunded")
    expect(page.locator("h1 .badge")).to_have_text("Cancelled")
    assert refunded_fan.get("/api/v1/wallet").json["balance"] == 50_000

    # The gate: the second fan's ticket is admitted once.
    page.get_by_role("link", name="Gate check-in").click()
    page.get_by_role("button", name="Open the gate").click()
    code = kept["tickets"][0]["code"]
    page.get_by_label("Ticket code").fill(code)
    page.get_by_role("button", name="Check in").click()
    expect(page.locator("#verdict h2")).to_have_text("ADMITTED")
    expect(page.locator("#verdict")).to_contain_text("Marko Zupan")
    _review(page, "gate-admitted")
    page.get_by_label("Ticket code").fill(code)
    page.get_by_label("Ticket code").press("Enter")  # a handheld scanner types the code and Enter
    expect(page.locator("#verdict h2")).to_have_text("ALREADY ADMITTED")
    expect(page.locator("#verdict")).to_contain_text(staff.user["email"])
    _review(page, "gate-already")

    # The dashboard now shows the sales.
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator(".stat-value").first).to_have_text("120,00\xa0€")  # the 3 Premium seats kept
    expect(page.locator("svg.sales-chart rect.bar[height]:not([height='0.0'])")).to_have_count(1)
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
    _review(page, "dashboard")
    page.goto(f"/admin/matches/{match_id}")
    _review(page, "match-on-sale")
    page.goto(f"/admin/users/{admitted_fan.user['id']}")
    _review(page, "user")
