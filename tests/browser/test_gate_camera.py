"""The gate on a phone (390x844), in Chromium with a fake camera that films a real ticket's QR
code: the page reads the code from the camera (the browser's BarcodeDetector where it has
one, else the vendored jsQR), the verdict appears in the live region with the scan time, the
same ticket held in view is not scanned twice, and a keyboard-wedge scanner (types the code,
then Enter) still works beside the camera. Then the same gate without JavaScript.

The camera's picture is a Y4M file written here from the ticket's code with segno (the QR
library the app uses), so no video tool is needed."""
import re

import pytest
import segno

from tests.admin.conftest import AdminClient
from tests.functional import catalogue_helpers as api_builders

from ..purchases import buy
from .conftest import CHROMIUM, LAUNCH_ARGS, log_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def qr_video(path, text, width=640, height=480, frames=5):
    """A Y4M (YUV 4:2:0) clip of ``text`` as a QR code, black on white, centred."""
    matrix = [list(row) for row in segno.make(text, error="m").matrix_iter(scale=1, border=4)]
    scale = int(min(width, height) * 0.9) // len(matrix)
    left, top = (width - len(matrix) * scale) // 2, (height - len(matrix) * scale) // 2
    luma = bytearray(b"\xeb" * (width * height))  # video white (235); black is 16
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                for y in range(top + r * scale, top + (r + 1) * scale):
                    start = y * width + left + c * scale
                    luma[start:start + scale] = b"\x10" * scale
    chroma = b"\x80" * ((width // 2) * (height // 2))
    with open(path, "wb") as video:
        video.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            video.write(b"FRAME\n" + bytes(luma) + chroma + chroma)
    return path



def test_camera_scan_keyboard_wedge_and_no_javascript(chromium_browser, live_server, wsgi_app, user_factory,
                                                      clean_db, tmp_path):
    expect = __import__("playwright.sync_api", fromlist=["expect"]).expect
    staff = AdminClient(wsgi_app, user_factory("staff", full_name="Nina Steward"))
    match, *_ = api_builders.published_match(staff.api, name="Hala Tivoli")
    fan = user_factory(full_name="Marko Zupan")
    order = buy(fan, match["id"], 3)
    filmed, typed, offline = (ticket["code"] for ticket in order["tickets"])

    # One browser for this module: the fake camera is a launch option, so it cannot be the
    # session's shared browser.
    camera = chromium_browser.browser_type.launch(
        executable_path=CHROMIUM, headless=True,
        args=LAUNCH_ARGS + ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                            f"--use-file-for-fake-video-capture={qr_video(tmp_path / 'ticket.y4m', filmed)}"],
    )
    try:
        context = camera.new_context(viewport=PHONE, base_url=live_server, is_mobile=True, has_touch=True)
        context.grant_permissions(["camera"], origin=live_server)
        context.set_default_timeout(15_000)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        log_in(page, staff.user["email"])
        page.goto(f"/admin/matches/{match['id']}/gate")
        region = page.locator("#verdict-region")
        expect(region).to_have_attribute("aria-live", "assertive")
        expect(region).to_have_attribute("role", "alert")
        page.evaluate("() => { window.sameDocument = true; }")  # gone if the page reloads

        page.get_by_role("button", name="Scan with the camera").click()
        expect(page.locator("#verdict")).to_have_attribute("data-kind", "admitted")
        expect(page.locator("#verdict")).to_contain_text("Marko Zupan")
        expect(page.locator("#verdict .verdict-time")).to_contain_text(re.compile(r"Scanned at \d\d:\d\d:\d\d"))
        decoder = page.locator("#camera").get_attribute("data-decoder")
        assert decoder in ("barcode-detector", "jsqr")
        print(f"gate camera decoded by {decoder}")
        # The ticket stays in front of the camera: it is not scanned again ("already admitted").
        page.wait_for_timeout(1500)
        expect(page.locator("#verdict")).to_have_attribute("data-kind", "admitted")

        # A keyboard-wedge scanner beside the camera: it types the code and Enter.
        page.get_by_label("Ticket code").click()
        page.keyboard.type(typed)
        page.keyboard.press("Enter")
        expect(page.locator("#verdict")).to_contain_text(re.compile("Admitted", re.I))
        expect(page.locator("#verdict")).to_have_attribute("data-kind", "admitted")
        expect(page.get_by_label("Ticket code")).to_have_value("")
        expect(page.get_by_label("Ticket code")).to_be_focused()
        page.keyboard.type(typed)
        page.keyboard.press("Enter")
        expect(page.locator("#verdict")).to_have_attribute("data-kind", "already")
        assert page.evaluate("() => window.sameDocument === true")  # swapped in place, no reload
        width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1]
        page.get_by_role("button", name="Stop the camera").click()
        expect(page.locator("#camera-view")).to_be_hidden()
        assert not errors, errors
        context.close()

        # Without JavaScript: no camera button, the form posts and the page shows the verdict.
        plain = camera.new_context(viewport=PHONE, base_url=live_server, java_script_enabled=False)
        page = plain.new_page()
        log_in(page, staff.user["email"])
        page.goto(f"/admin/matches/{match['id']}/gate")
        expect(page.locator("#camera")).to_be_hidden()
        page.get_by_label("Ticket code").fill(offline)
        page.get_by_label("Ticket code").press("Enter")
        expect(page.locator("#verdict")).to_have_attribute("data-kind", "admitted")
        plain.close()
    finally:
        camera.close()

    # Three tickets, three admissions: camera, wedge, plain form; the repeat was refused.
    admitted = [t for t in fan.get(f"/api/v1/orders/{order['id']}").json["tickets"] if t.get("checked_in_at")]
    assert len(admitted) == 3
