"""Every admin page at laptop (1366x768) and phone (390x844) size, in a real Chromium: no page
scrolls sideways, and axe-core (vendored, tests/browser/assets/) finds no accessibility
violation. The pages walked are the navigation's, and the pages one click below them that a
sale day uses (a match, its confirmation steps, its edit form, the seat map, an order, its
refund step, a fan, the gate with a verdict, forms with every error shown)."""
import json
import re
import time
from pathlib import Path

import pytest

from tests.admin.conftest import AdminClient
from tests.conftest import TEST_PASSWORD
from tests.functional import catalogue_helpers as api_builders

from ..purchases import buy
from .conftest import admin_context

pytestmark = pytest.mark.browser

AXE = Path(__file__).with_name("assets") / "axe-core-4.14.1" / "axe.min.js"
VIEWPORTS = {"laptop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
PHONE_WIDTHS = (360, 414)
#: A team name with no spaces: the worst case for wrapping on a phone.
LONG_NAME = "Odbojkarski-klub-Šoštanj-Topolšica-Mladinska-ekipa-Zlatorog"


@pytest.fixture
def sale_day(wsgi_app, user_factory, clean_db):
    """A published match with a sold order, a closed match, a draft with a long name, a fan
    (built through the API: quicker than the forms, which tests/admin covers)."""
    staff = AdminClient(wsgi_app, user_factory("staff", full_name="Nina Steward"))
    match, stadium, *_ = api_builders.published_match(staff.api, prices=(4000, 2500), name="Hala Tivoli")
    closed, *_ = api_builders.published_match(staff.api, name="Arena Stožice")
    staff.api.post(f"/api/v1/matches/{closed['id']}/close", status=200)
    long_stadium, _ = api_builders.create_stadium(staff.api, "Dvorana Tabor " + LONG_NAME, sections=(("East", 2, 6),))
    draft = api_builders.create_match(staff.api, long_stadium["id"], home_team=LONG_NAME, away_team="Calcit")
    staff.api.post(f"/api/v1/matches/{draft['id']}/categories", {"name": "Standard " + LONG_NAME, "price": 287000},
                   status=201)
    for number in range(18):  # over a page of stadiums: the pager and its disabled link show
        staff.api.post("/api/v1/stadiums", {"name": f"Hall {number}", "city": "Celje", "address": "Main St 1"},
                       status=201)
    fan = user_factory(full_name="Žiga O'Brien-" + LONG_NAME)
    order = buy(fan, match["id"], 2)
    return {"staff": staff, "match": match["id"], "draft": draft["id"], "closed": closed["id"], "order": order,
            "fan": fan, "stadium": long_stadium["id"]}


#: Elements and text whose right edge is past the window's (outside boxes that scroll on
#: their own): what makes a page too wide, for the failure message.
WIDEST = """() => {
  const out = [], limit = window.innerWidth + 0.5;
  const inScroller = n => n.parentElement && n.parentElement.closest('.table-wrap, .seatmap-wrap');
  for (const e of document.querySelectorAll('body *')) {
    if (e.getBoundingClientRect().right > limit && !inScroller(e)) {
      out.push(e.tagName.toLowerCase() + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));
    }
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.textContent.trim() || inScroller(node)) continue;
    range.selectNodeContents(node);
    const right = range.getBoundingClientRect().right;
    if (right > limit) out.push('text in ' + node.parentElement.tagName.toLowerCase() + '.' +
                                node.parentElement.className + ': ' + node.textContent.trim().slice(0, 40) + ' ' + Math.round(right));
  }
  return out.slice(0, 6);
}"""


def _check(page, name, axe_source):
    """No sideways scrolling, and no axe violation, on the page as it is now. On a phone, the
    page is also reflowed at the narrowest and widest common phone widths (360, 414 px)."""
    size = page.viewport_size
    if size["width"] < 500:
        for width in PHONE_WIDTHS:
            page.set_viewport_size({"width": width, "height": size["height"]})
            _fits(page, f"{name} at {width} px")
        page.set_viewport_size(size)
    _fits(page, name)
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)  # by the DevTools protocol: the page's CSP does not apply
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})"
                           ".then(r => r.violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)})))")
    assert result == [], f"{name}: axe violations {json.dumps(result)[:1500]}"


def _fits(page, name):
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    if width[0] > width[1]:
        culprits = page.evaluate(WIDEST)
        pytest.fail(f"{name}: the page is {width[0]} px wide in a {width[1]} px window; "
                    f"sticking out: {culprits}", pytrace=False) if name != "control" else None
        raise AssertionError(f"{name}: the page is {width[0]} px wide")


def test_every_page_fits_and_passes_axe(chromium_browser, live_server, sale_day):
    axe_source = AXE.read_text()
    for size in VIEWPORTS:  # one data set, one browser, both sizes
        started = time.monotonic()
        _walk(chromium_browser, live_server, sale_day, size, axe_source)
        print(f"{size}: {time.monotonic() - started:.1f} s")


def _walk(chromium_browser, live_server, sale_day, size, axe_source):
    context = admin_context(chromium_browser, live_server, VIEWPORTS[size])
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto("/admin/login")
        _check(page, "login", axe_source)
        page.get_by_label("E-mail").fill(sale_day["staff"].user["email"])
        page.get_by_label("Password").fill(TEST_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/admin/$"))

        # Every page the navigation reaches.
        links = page.eval_on_selector_all("nav.sidebar a", "links => links.map(a => a.getAttribute('href'))")
        assert len(links) >= 7
        for href in links:
            page.goto(href)
            _check(page, href, axe_source)
            if href.endswith("/stadiums"):  # the disabled pager link is part of what axe checked
                assert page.locator(".pager .disabled").count() == 1

        match, draft, closed = sale_day["match"], sale_day["draft"], sale_day["closed"]
        order, fan = sale_day["order"], sale_day["fan"]
        for href in (
            f"/admin/matches/{match}", f"/admin/matches/{match}/edit", f"/admin/matches/{match}/seats",
            f"/admin/matches/{match}/close", f"/admin/matches/{match}/cancel",
            f"/admin/matches/{draft}", f"/admin/matches/{draft}/publish", f"/admin/matches/{closed}/reopen",
            f"/admin/stadiums/{sale_day['stadium']}", "/admin/matches/new", "/admin/stadiums/new",
            f"/admin/orders/{order['id']}", f"/admin/orders/{order['id']}/refund",
            f"/admin/users/{fan.user['id']}", f"/admin/matches/{match}/gate",
        ):
            page.goto(href)
            _check(page, href, axe_source)

        # A form with every error shown, and the gate with its verdict.
        page.goto("/admin/matches/new")
        page.get_by_role("button", name="Create match").click()
        page.wait_for_selector(".error-summary")
        _check(page, "match form with errors", axe_source)
        page.goto(f"/admin/matches/{match}/gate")
        ticket = list(VIEWPORTS).index(size)  # a fresh ticket per walk: each is admitted
        page.get_by_label("Ticket code").fill(order["tickets"][ticket]["code"])
        page.get_by_label("Ticket code").press("Enter")
        page.wait_for_selector("#verdict[data-kind=admitted]")
        _check(page, "gate verdict", axe_source)
        verdict = page.locator("#verdict h2").bounding_box()
        assert verdict["x"] + verdict["width"] <= VIEWPORTS[size]["width"]  # "ALREADY ADMIT…" no more

        # Control: the check does catch a page wider than the window.
        page.evaluate("() => { const d = document.createElement('div'); d.style.width = '2000px';"
                      " d.style.height = '1px'; document.querySelector('main').appendChild(d); }")
        with pytest.raises(AssertionError, match="px wide"):
            _fits(page, "control")
    finally:
        context.close()
    assert not errors, errors
