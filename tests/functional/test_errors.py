"""Every error under /api/ is problem+json; the rest of the plumbing (ids, health, docs)."""
from .test_auth import assert_problem


def test_unknown_route_is_problem_json(testapp):
    assert_problem(testapp.get("/api/v1/no-such-thing", status=404), 404)


def test_wrong_method_is_405_with_the_allowed_ones(testapp):
    for method in ("DELETE", "TRACE", "PUT"):
        response = testapp.request("/api/v1/me", method=method, status=405)
        assert_problem(response, 405)
        assert response.headers["Allow"] == "GET, HEAD"
    matches = testapp.request("/api/v1/matches", method="PUT", status=405)
    assert matches.headers["Allow"] == "GET, HEAD, POST"
    assert "it answers GET, HEAD, POST" in matches.json["detail"]


def test_request_id_is_echoed_or_generated(testapp):
    response = testapp.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    generated = testapp.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert generated.headers["X-Request-ID"] != "bad id with spaces"
    assert len(generated.headers["X-Request-ID"]) == 32


def test_unexpected_errors_are_500_problem_without_stack_trace(testapp, monkeypatch):
    from ticketing.views.api import auth

    def explode(*args, **kwargs):
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(auth.accounts, "signup", explode)
    response = testapp.post_json(
        "/api/v1/auth/signup", {"email": "boom@example.com", "password": "pitch-side-42", "full_name": "B"}, status=500
    )
    body = assert_problem(response, 500)
    assert "secret" not in response.text and "Traceback" not in response.text
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_healthz(testapp):
    assert testapp.get("/healthz").json == {"status": "ok", "database": "ok"}


def test_openapi_document_and_explorer_are_served_locally(testapp):
    spec = testapp.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    assert "/auth/signup" in spec["paths"]
    testapp.get("/api/v1/openapi.yaml", status=200)
    page = testapp.get("/api/v1/docs")
    assert "cdn" not in page.text.lower() and "googleapis" not in page.text
    for src in page.html.find_all("script"):
        testapp.get(src["src"], status=200)
    for link in page.html.find_all("link"):
        testapp.get(link["href"], status=200)
