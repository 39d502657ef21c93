"""Security headers, and production's refusal to run with development secrets."""
import pytest
import webtest

import ticketing
from ticketing.services.ticket_codes import MissingSigningKey
from ticketing.settings import UnsafeConfiguration

from ..conftest import app_settings


@pytest.mark.parametrize("url", ["/healthz", "/api/v1/docs", "/api/v1/matches", "/api/v1/nope"])
def test_every_response_carries_security_headers(testapp, url):
    response = testapp.get(url, expect_errors=True)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # only in production


def test_docs_page_has_no_inline_script(testapp):
    page = testapp.get("/api/v1/docs")
    assert all(script.get("src") for script in page.html.find_all("script"))


def test_production_sends_hsts_and_secure_cookies(database_url, monkeypatch):
    settings = app_settings(database_url, **{
        "ticketing.environment": "production",
        "auth.jwt_secret": "p" * 48,
        "auth.session_secret": "q" * 48,
    })
    app = webtest.TestApp(ticketing.main({}, **settings))
    response = app.get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_production_refuses_development_secrets_and_missing_ticket_key(database_url):
    base = {"ticketing.environment": "production", "auth.jwt_secret": "p" * 48, "auth.session_secret": "q" * 48}
    with pytest.raises(UnsafeConfiguration):
        ticketing.main({}, **app_settings(database_url, **{**base, "auth.jwt_secret": "dev-only-jwt-secret-change-me-0123456789abcdef"}))
    with pytest.raises(MissingSigningKey):
        ticketing.main({}, **app_settings(database_url, **{**base, "tickets.signing_key": "", "tickets.signing_key_file": ""}))
