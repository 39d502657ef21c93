"""The gate's camera path through the browser's own ``BarcodeDetector``, which Debian's
Chromium does not have (so test_gate_camera.py only ever runs the jsQR fallback).

A fake ``BarcodeDetector`` is put into every page before its scripts run
(``add_init_script``): it says it reads QR codes, and whatever the camera shows it "detects"
a real ticket's code, counting its calls on ``window``. The camera is Chromium's built-in fake
device (a test pattern, no QR code in it), so an admission can only have come through the
detector. At laptop and phone width, under the admin's strict CSP: the verdict appears, the
check-in is in the database once, the page read the camera's video element through the
fake, and jsQR was never fetched. A detector that cannot read QR codes sends the page to
jsQR instead, without calling the detector."""
import json

import pytest
from sqlalchemy import text

from tests.admin.conftest import AdminClient
from tests.functional import catalogue_helpers as api_builders

from ..purchases import buy
from .conftest import CHROMIUM, LAUNCH_ARGS, admin_context, log_in

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}

#: ``%s``: the JSON of the code it detects, and of the formats it says it supports.
FAKE_DETECTOR = """
(() => {
  const code = %s, supported = %s;
  const calls = window.fakeBarcodeDetector = {constructed: 0, formats: null, detects: 0, sources: []};
  class FakeBarcodeDetector {
    constructor(options) {
      calls.constructed += 1;
      calls.formats = options && options.formats;
    }
    static getSupportedFormats() { return Promise.resolve(supported.slice()); }
    detect(source) {
      calls.detects += 1;
      if (calls.sources.indexOf(source.tagName) === -1) { calls.sources.push(source.tagName); }
      return Promise.resolve([{rawValue: code, format: "qr_code"}]);
    }
  }
  window.BarcodeDetector = FakeBarcodeDetector;
})();
"""


@pytest.fixture(scope="module")
def camera_browser(chromium_browser):
    """Chromium with its fake camera (a moving test pattern) granted without a prompt: a
    launch option, so not the session's shared browser."""
    browser = chromium_browser.browser_type.launch(
        executable_path=CHROMIUM, headless=True,
        args=LAUNCH_ARGS + ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
    yield browser
    browser.close()



class GatePage:
    """The gate page in a fresh admin context with the fake detector, and what it did:
    script errors, CSP violations and every request it made."""

    def __init__(self, browser, live_server, viewport, code, supported):
        self.context = admin_context(browser, live_server, viewport)
        self.context.grant_permissions(["camera"], origin=live_server)
        self.context.add_init_script(FAKE_DETECTOR % (json.dumps(code), json.dumps(supported)))
        self.page = self.context.new_page()
        self.errors, self.requests = [], []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", self._console)
        self.page.on("request", lambda request: self.requests.append(request))

    def _console(self, message):
        # A 409 verdict page is logged as a failed load; script and CSP errors are what count.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def open(self, staff_email, match_id):
        log_in(self.page, staff_email)
        self.page.goto(f"/admin/matches/{match_id}/gate")
        return self.page

    def detector_calls(self):
        return self.page.evaluate("() => window.fakeBarcodeDetector")

    def fetched(self, fragment):
        return [r.url for r in self.requests if fragment in r.url.lower()]

    def scans_posted(self, match_id):
        return [r for r in self.requests if r.method == "POST" and r.url.endswith(f"/admin/matches/{match_id}/gate")]


@pytest.fixture
def sold_ticket(wsgi_app, user_factory, clean_db):
    staff = AdminClient(wsgi_app, user_factory("staff", full_name="Nina Steward"))
    match, *_ = api_builders.published_match(staff.api, name="Hala Tivoli")
    fan = user_factory(full_name="Marko Zupan")
    [ticket] = buy(fan, match["id"], 1)["tickets"]
    return staff, match, ticket


def checked_in(engine, ticket_id):
    with engine.connect() as conn:
        return conn.execute(text("SELECT checked_in_at, checked_in_by FROM tickets WHERE id = :t"),
                            {"t": ticket_id}).one()


@pytest.mark.parametrize("viewport", list(VIEWPORTS.values()), ids=list(VIEWPORTS))
def test_the_camera_reads_the_code_with_the_browsers_barcode_detector(camera_browser, live_server, sold_ticket,
                                                                      clean_db, viewport):
    from playwright.sync_api import expect

    staff, match, ticket = sold_ticket
    gate = GatePage(camera_browser, live_server, viewport, ticket["code"], ["qr_code", "ean_13"])
    try:
        page = gate.open(staff.user["email"], match["id"])
        page.get_by_role("button", name="Scan with the camera").click()
        verdict = page.locator("#verdict")
        expect(verdict).to_have_attribute("data-kind", "admitted")
        expect(verdict).to_contain_text("Marko Zupan")
        expect(page.locator("#camera")).to_have_attribute("data-decoder", "barcode-detector")
        # The ticket stays "in view" (the fake keeps detecting it): it is not posted again.
        page.wait_for_timeout(1500)
        expect(verdict).to_have_attribute("data-kind", "admitted")
        assert len(gate.scans_posted(match["id"])) == 1

        calls = gate.detector_calls()
        assert calls["constructed"] == 1 and calls["formats"] == ["qr_code"]
        assert calls["detects"] >= 2 and calls["sources"] == ["VIDEO"]  # it reads the camera's frames
        assert page.evaluate("() => typeof window.jsQR") == "undefined"
        assert gate.fetched("jsqr") == []  # the fallback is loaded only when it is needed
        width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1]
        page.get_by_role("button", name="Stop the camera").click()
        expect(page.locator("#camera-view")).to_be_hidden()
        assert not gate.errors, gate.errors
    finally:
        gate.context.close()

    admitted_at, admitted_by = checked_in(clean_db, ticket["id"])
    assert admitted_at is not None and admitted_by == staff.user["id"]


def test_a_detector_without_qr_codes_leaves_the_camera_to_jsqr(camera_browser, live_server, sold_ticket, clean_db):
    from playwright.sync_api import expect

    staff, match, ticket = sold_ticket
    gate = GatePage(camera_browser, live_server, VIEWPORTS["desktop"], ticket["code"], ["ean_13", "code_128"])
    try:
        page = gate.open(staff.user["email"], match["id"])
        page.get_by_role("button", name="Scan with the camera").click()
        expect(page.locator("#camera")).to_have_attribute("data-decoder", "jsqr")
        expect(page.locator("#camera-status")).to_contain_text("Point the camera")
        page.wait_for_timeout(500)  # a few frames go through jsQR (the test pattern has no code)
        assert page.evaluate("() => typeof window.jsQR") == "function"
        assert len(gate.fetched("jsqr")) == 1
        calls = gate.detector_calls()
        assert calls["constructed"] == 0 and calls["detects"] == 0
        assert gate.scans_posted(match["id"]) == []
        assert not gate.errors, gate.errors
    finally:
        gate.context.close()
    assert checked_in(clean_db, ticket["id"]).checked_in_at is None
