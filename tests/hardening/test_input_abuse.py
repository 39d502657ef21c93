"""Hostile input: every variant is a clear 4xx problem, never a 500, never a partial write."""
import json

import pytest
from sqlalchemy import text

from ..functional.test_auth import assert_problem


@pytest.mark.parametrize(
    "raw, status",
    [
        ('{"email": "a\\u0000@example.com", "password": "pitch-side-42", "full_name": "N"}', 422),
        ('{"email": "a@example.com", "password": "pitch-side-42", "full_name": "\\ud800"}', 422),
        ('{"email": null, "password": "pitch-side-42", "full_name": "N"}', 422),
        ('{"email": "' + "a" * 5000 + '@example.com", "password": "pitch-side-42", "full_name": "N"}', 422),
        ('{"email": "a@example.com", "password": "pitch-side-42", "full_name": "N", "extra": 1}', 422),
        ('{"email": "a@example.com", "password": "pitch-side-42", "full_name": 1e309}', 422),
        ('{"email": ["a@example.com"], "password": "pitch-side-42", "full_name": "N"}', 422),
        ('"just a string"', 422),
        ("{" * 10000, 400),
        (b'{"email": "\xff\xfe"}', 400),
    ],
)
def test_hostile_signup_bodies(testapp, engine, raw, status):
    body = raw if isinstance(raw, bytes) else raw.encode("utf-8")
    response = testapp.post("/api/v1/auth/signup", body, content_type="application/json", status=status)
    assert_problem(response, status)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 0


def test_huge_body_is_413(testapp):
    body = json.dumps({"email": "a@example.com", "password": "x" * (2 * 1024 * 1024), "full_name": "N"})
    assert_problem(testapp.post("/api/v1/auth/signup", body, content_type="application/json", status=413), 413)


@pytest.mark.parametrize(
    "url, status",
    [
        ("/api/v1/matches?limit=101", 422),
        ("/api/v1/matches?limit=-1", 422),
        ("/api/v1/matches?offset=99999999999999999999", 422),
        ("/api/v1/matches?stadium_id=99999999999999999999999", 422),
        ("/api/v1/matches?team=%00", 422),
        ("/api/v1/matches?from=not-a-date", 422),
        ("/api/v1/matches?from=2030-01-01T00:00:00%2B19:25", 200),
        ("/api/v1/stadiums?q=" + "%F0%9F%8F%90" * 250, 422),
        ("/api/v1/matches/99999999999999999999999999/seats", 404),
        ("/api/v1/stadiums/-1", 404),
    ],
)
def test_hostile_query_strings(testapp, url, status):
    response = testapp.get(url, status=status)
    if status >= 400:
        assert_problem(response, status)


def test_numbers_out_of_range_in_bodies(staff):
    stadium = staff.post("/api/v1/stadiums", {"name": "Range", "city": "C"}, status=201).json
    huge = {"name": "S", "rows": [{"label": "1", "seats": 2**63}]}
    assert_problem(staff.post(f"/api/v1/stadiums/{stadium['id']}/sections", huge, status=422), 422)
    assert_problem(staff.post("/api/v1/matches", {"stadium_id": 2**70, "home_team": "A", "away_team": "B",
                                                  "starts_at": "2030-01-01T00:00:00Z"}, status=422), 422)


@pytest.mark.parametrize(
    "url, status",
    [
        ("/api/v1/matches/%C2%B2", 404),
        ("/api/v1/stadiums/%C2%B2/seats", 404),
        ("/api/v1/matches/%FF", 404),
        ("/api/v1/matches?from=0001-01-01T00:00:00%2B01:00", 422),
        ("/api/v1/matches?to=9999-12-31T23:59:59-01:00", 422),
    ],
)
def test_unicode_digits_bad_paths_and_extreme_dates(testapp, url, status):
    assert_problem(testapp.get(url, status=status), status)


def test_owned_objects_answer_401_to_anonymous_callers_whether_they_exist_or_not(testapp):
    for url in ("/api/v1/orders/1", "/api/v1/orders/99999999", "/api/v1/holds/%C2%B2", "/api/v1/tickets/7"):
        assert_problem(testapp.get(url, status=401), 401)


def test_extreme_kick_off_dates_are_422(staff):
    stadium = staff.post("/api/v1/stadiums", {"name": "Dates", "city": "C"}, status=201).json
    for starts_at in ("0001-01-01T12:00:00Z", "0001-01-01T12:00:00+01:00", "9999-12-31T23:00:00-01:00"):
        body = {"stadium_id": stadium["id"], "home_team": "A", "away_team": "B", "starts_at": starts_at}
        assert_problem(staff.post("/api/v1/matches", body, status=422), 422, "starts_at")


def test_json_nested_past_pythons_recursion_limit_is_a_4xx_problem(customer):
    """json.loads raises RecursionError (not ValueError) on deep nesting: the Idempotency-Key
    fingerprint and the NUL/surrogate guard must treat it as the malformed body it is."""
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    with_escape = b'{"amount": "\\u0041", "x": ' + deep + b"}"
    for body, headers in ((deep, {"Idempotency-Key": "deep-1"}), (with_escape, {}),
                          (with_escape, {"Idempotency-Key": "deep-2"})):
        response = customer.app.post("/api/v1/wallet/top-ups", body, headers=customer._headers(headers),
                                     content_type="application/json", expect_errors=True)
        assert 400 <= response.status_int < 500, (response.status_int, response.body[:200])
        assert_problem(response, response.status_int)
    assert customer.get("/api/v1/wallet").json["balance"] == 0


def test_head_is_answered_like_get_and_validated_like_it(staff, anonymous, customer):
    """HEAD reaches the GET views: the request is checked as the GET would be (a bad limit is
    a 422), and the response, without a body, is not checked against the GET's schema."""
    from ..functional.catalogue_helpers import published_match

    match, *_ = published_match(staff)
    for client, path in ((anonymous, "/api/v1/matches"), (anonymous, f"/api/v1/matches/{match['id']}/seats"),
                         (customer, "/api/v1/me")):
        response = client.app.head(path, headers=client._headers(None), status=200)
        assert response.body == b""
    anonymous.app.head("/api/v1/stadiums?limit=999", status=422)
