"""A live app for Playwright: ``pserve`` on a free local port, against the test database.

Chromium is Debian's (``apt-get install chromium``); Playwright's own browser download is not
used. Without Chromium the browser tests skip with the reason, unless ``CI`` is set, where a
missing browser is a failure: CI must never pass by not testing.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import TEST_PASSWORD, app_settings

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
#: Where the walk saves its screenshots: var/ by default, so a test run leaves the checkout as
#: it was; ``ADMIN_SCREENSHOTS=docs/screenshots make test`` refreshes the ones docs/admin.md shows.
SCREENSHOTS = Path(os.environ.get("ADMIN_SCREENSHOTS") or ROOT / "var" / "screenshots")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
#: The Content-Security-Policy the admin must work under (no inline script or style): the walk
#: serves every admin page with it, and any violation is a console error that fails the test.
STRICT_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def _on_ci():
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason):
    if _on_ci():
        pytest.fail(f"CI is set but {reason}; .ci/run installs Chromium with apt-get", pytrace=False)
    print(f"\nbrowser tests skipped: {reason}", file=sys.stderr)
    pytest.skip(f"{reason} (install Debian's chromium to run the browser tests)")


@pytest.fixture(scope="session")
def chromium_browser():
    if not os.path.exists(CHROMIUM):
        _unavailable(f"Chromium not found at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ini(settings, port):
    def value(text):
        return str(text).replace("%", "%%").replace("\n", " ")

    lines = ["[app:main]", "use = egg:ticketing"]
    lines += [f"{key} = {value(val)}" for key, val in settings.items()]
    lines += ["", "[server:main]", "use = egg:waitress#main", f"listen = 127.0.0.1:{port}", "threads = 4", ""]
    return "\n".join(lines)


@pytest.fixture(scope="session")
def live_server(database_url, tmp_path_factory, chromium_browser):
    """``pserve`` serving the app on the test database; yields its base URL."""
    port = _free_port()
    directory = tmp_path_factory.mktemp("live")
    ini = directory / "browser.ini"
    ini.write_text(_ini(app_settings(database_url), port))
    log = (directory / "pserve.log").open("w+")
    env = {**os.environ, "DATABASE_URL": database_url}
    for name in ("TICKETING_ENVIRONMENT", "TICKETING_JWT_SECRET", "TICKETING_SESSION_SECRET"):
        env.pop(name, None)
    pserve = Path(sys.executable).with_name("pserve")
    command = [str(pserve)] if pserve.exists() else [sys.executable, "-m", "pyramid.scripts.pserve"]
    process = subprocess.Popen(command + [str(ini)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log.seek(0)
            pytest.fail(f"pserve did not start:\n{log.read()[-4000:]}", pytrace=False)
        time.sleep(0.1)
    yield base
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def admin_context(chromium_browser, live_server, viewport):
    """A browser context at ``viewport`` whose admin pages carry the production CSP, strict
    (no inline script or style may run unnoticed)."""
    context = chromium_browser.new_context(viewport=viewport, base_url=live_server)
    context.set_default_timeout(10_000)

    def with_strict_csp(route):
        if route.request.resource_type != "document":
            return route.continue_()
        response = route.fetch(max_redirects=0)
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": STRICT_CSP})

    context.route("**/admin/**", with_strict_csp)
    return context


def log_in(page, email):
    """Log staff in through the admin's login form, as a person would, and land on the dashboard."""
    page.goto("/admin/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))


@pytest.fixture
def browser_page(chromium_browser, live_server, clean_db):
    """A fresh laptop-sized page on an empty database; dialogs (confirmations) are accepted."""
    context = admin_context(chromium_browser, live_server, {"width": 1280, "height": 860})
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def console(message):
        # A 409 or 422 page (ALREADY ADMITTED, a form with errors) is logged as a failed load;
        # broken assets are caught by status below, so only real script/CSP errors count here.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def response(reply):
        # A form posted in the background (the gate's scans) answers 409/422 as its page would.
        if reply.request.method == "POST" and reply.status in (409, 422):
            return
        if reply.request.resource_type in ("stylesheet", "script", "image", "font", "fetch") and reply.status >= 400:
            errors.append(f"{reply.status} for {reply.url}")

    page.on("console", console)
    page.on("response", response)
    yield page
    context.close()
    assert not errors, f"{len(errors)} JavaScript errors or CSP violations in the browser, first: {errors[:3]}"
