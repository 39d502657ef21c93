"""Accounts over HTTP: signup, login, /me, refresh rotation and reuse, logout, rate limits."""
import time
from datetime import datetime, timedelta, timezone

import jwt
import pytest
import webtest
from sqlalchemy import text

import ticketing

from ..conftest import TEST_PASSWORD, app_settings

SIGNUP = "/api/v1/auth/signup"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/me"


def assert_problem(response, status, field=None):
    assert response.status_int == status
    assert response.content_type == "application/problem+json"
    body = response.json
    assert body["status"] == status
    assert body["type"].startswith("urn:ticketing:problem:")
    assert body["title"] and body["detail"]
    if field:
        assert field in [error["field"] for error in body["errors"]], body
    return body


def test_signup_login_me_refresh_logout_journey(anonymous, testapp):
    user = anonymous.post(
        SIGNUP, {"email": "  Ana.Fan@Example.COM ", "password": TEST_PASSWORD, "full_name": "Ana"}, status=201
    ).json
    assert user["email"] == "ana.fan@example.com"
    assert user["role"] == "customer"

    pair = anonymous.post(LOGIN, {"email": "ANA.FAN@example.com", "password": TEST_PASSWORD}, status=200).json
    assert pair["token_type"] == "bearer" and pair["expires_in"] == 900

    me = testapp.get(ME, headers={"Authorization": f"Bearer {pair['access_token']}"}, status=200).json
    assert me["id"] == user["id"]

    new_pair = anonymous.post(REFRESH, {"refresh_token": pair["refresh_token"]}, status=200).json
    assert new_pair["refresh_token"] != pair["refresh_token"]
    testapp.get(ME, headers={"Authorization": f"Bearer {new_pair['access_token']}"}, status=200)

    anonymous.post(LOGOUT, {"refresh_token": new_pair["refresh_token"]}, status=204)
    assert_problem(anonymous.post(REFRESH, {"refresh_token": new_pair["refresh_token"]}, status=401), 401)


def test_duplicate_email_in_another_case_is_a_conflict(anonymous):
    anonymous.post(SIGNUP, {"email": "dup@example.com", "password": TEST_PASSWORD, "full_name": "A"}, status=201)
    response = anonymous.post(
        SIGNUP, {"email": "DUP@Example.com", "password": TEST_PASSWORD, "full_name": "B"}, status=409
    )
    assert_problem(response, 409, "email")


@pytest.mark.parametrize(
    "password, reason",
    [
        ("short1", "at least 8"),
        ("x" * 129, "at most 128"),
        ("password123", "too common"),
        ("weak@example.com", "e-mail"),
        ("aaaaaaaaaaaa", "too common"),
    ],
)
def test_weak_passwords_are_refused(anonymous, password, reason):
    response = anonymous.post(
        SIGNUP, {"email": "weak@example.com", "password": password, "full_name": "W"}, status=422
    )
    body = assert_problem(response, 422, "password")
    assert any(reason in error["message"] for error in body["errors"])


def test_signup_cannot_choose_a_role(anonymous):
    response = anonymous.post(
        SIGNUP,
        {"email": "sneaky@example.com", "password": TEST_PASSWORD, "full_name": "S", "role": "admin"},
        status=422,
    )
    assert_problem(response, 422)


@pytest.mark.parametrize(
    "body, status, field",
    [
        ({"email": "x@example.com"}, 422, "password"),
        ({"email": "x@example.com", "password": 12345678, "full_name": "X"}, 422, "password"),
        ({"email": "not-an-email", "password": TEST_PASSWORD, "full_name": "X"}, 422, "email"),
        ({"email": "x@example.com", "password": TEST_PASSWORD, "full_name": "   "}, 422, "full_name"),
        ([1, 2], 422, "body"),
    ],
)
def test_bad_signup_bodies(anonymous, body, status, field):
    assert_problem(anonymous.post(SIGNUP, body, status=status), status, field)


def test_malformed_json_and_wrong_content_type(testapp):
    assert_problem(testapp.post(SIGNUP, "{nope", content_type="application/json", status=400), 400, "body")
    assert_problem(testapp.post(SIGNUP, "email=a", content_type="application/x-www-form-urlencoded", status=415), 415)


def test_login_failure_is_the_same_for_unknown_email_and_wrong_password(anonymous, customer):
    unknown = anonymous.post(LOGIN, {"email": "nobody@example.com", "password": TEST_PASSWORD}, status=401).json
    wrong = anonymous.post(LOGIN, {"email": customer.user["email"], "password": "wrong-password-1"}, status=401).json
    assert unknown["detail"] == wrong["detail"]
    assert unknown["title"] == wrong["title"]


def test_reusing_a_rotated_refresh_token_revokes_the_family(anonymous, customer):
    first = customer.user["refresh_token"]
    second = anonymous.post(REFRESH, {"refresh_token": first}, status=200).json["refresh_token"]
    # The thief replays the old token: refused, and the legitimate newer token dies too.
    assert_problem(anonymous.post(REFRESH, {"refresh_token": first}, status=401), 401)
    assert_problem(anonymous.post(REFRESH, {"refresh_token": second}, status=401), 401)


def _token(settings, **claims):
    now = datetime.now(timezone.utc)
    base = {
        "sub": "1",
        "role": "customer",
        "aud": "ticketing-api",
        "iss": "ticketing",
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=5),
    }
    base.update(claims)
    base = {key: value for key, value in base.items() if value is not None}
    return jwt.encode(base, settings["auth.jwt_secret"], algorithm="HS256")


def _with_header(token, header):
    import base64
    import json

    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return ".".join([encoded] + token.split(".")[1:])


def test_bad_access_tokens_are_401(testapp, customer, settings):
    sub = str(customer.user["id"])
    now = datetime.now(timezone.utc)
    header, payload, _ = customer.token.split(".")
    unsigned = jwt.encode({"sub": sub, "role": "customer", "aud": "ticketing-api", "iss": "ticketing",
                           "iat": now, "nbf": now, "exp": now + timedelta(minutes=5)}, None, algorithm="none")
    bad_tokens = {
        "alg none": unsigned,
        "wrong key": jwt.encode({"sub": sub, "aud": "ticketing-api", "exp": now + timedelta(minutes=5)}, "k" * 40, algorithm="HS256"),
        "expired": _token(settings, sub=sub, exp=now - timedelta(minutes=1)),
        "not yet valid": _token(settings, sub=sub, nbf=now + timedelta(minutes=10)),
        "wrong audience": _token(settings, sub=sub, aud="someone-else"),
        "no exp": _token(settings, sub=sub, exp=None),
        "tampered": f"{header}.{payload[:-2]}AA.{customer.token.split('.')[2]}",
        "role claim escalated": _token(settings, sub=sub, role="admin"),
        "HS512 with the right key": jwt.encode({"sub": sub, "role": "customer", "aud": "ticketing-api", "iss": "ticketing",
                                                "iat": now, "nbf": now, "exp": now + timedelta(minutes=5)},
                                               settings["auth.jwt_secret"], algorithm="HS512"),
        "RS256 header, HMAC body (alg confusion)": _with_header(_token(settings, sub=sub), {"alg": "RS256", "typ": "JWT"}),
        "wrong issuer": _token(settings, sub=sub, iss="evil"),
        "no sub": _token(settings, sub=None),
        "non-numeric sub": _token(settings, sub="1 OR 1=1"),
        "garbage": "not.a.jwt",
    }
    for name, token in bad_tokens.items():
        response = testapp.get(ME, headers={"Authorization": f"Bearer {token}"}, status=401)
        body = assert_problem(response, 401)
        assert "expired" in body["detail"] or "invalid" in body["detail"], name
    # and the genuine token still works
    testapp.get(ME, headers={"Authorization": f"Bearer {customer.token}"}, status=200)


def test_demoted_or_deleted_user_token_stops_working(testapp, user_factory, engine):
    staff = user_factory("staff")
    testapp.get(ME, headers={"Authorization": f"Bearer {staff.token}"}, status=200)
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET role = 'customer' WHERE id = :id"), {"id": staff.user["id"]})
    testapp.get(ME, headers={"Authorization": f"Bearer {staff.token}"}, status=401)
    fan = user_factory()
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM users WHERE id = :id"), {"id": fan.user["id"]})
    testapp.get(ME, headers={"Authorization": f"Bearer {fan.token}"}, status=401)


def test_login_is_rate_limited_per_email_across_app_instances(database_url, clean_db):
    limited = app_settings(database_url, **{"ratelimit.auth_per_email": "3", "ratelimit.auth_per_ip": "1000"})
    # Two independent WSGI apps stand for two processes: the limit lives in PostgreSQL.
    first = webtest.TestApp(ticketing.main({}, **limited), extra_environ={"REMOTE_ADDR": "10.9.9.9"})
    second = webtest.TestApp(ticketing.main({}, **limited), extra_environ={"REMOTE_ADDR": "10.9.9.8"})
    body = {"email": "target@example.com", "password": "wrong-password-1"}
    statuses = [app.post_json(LOGIN, body, expect_errors=True).status_int for app in (first, second, first, second)]
    assert statuses == [401, 401, 401, 429]
    response = second.post_json(LOGIN, body, expect_errors=True)
    assert_problem(response, 429)
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 300


def test_login_is_rate_limited_per_ip(database_url, clean_db):
    limited = app_settings(database_url, **{"ratelimit.auth_per_ip": "2"})
    app = webtest.TestApp(ticketing.main({}, **limited), extra_environ={"REMOTE_ADDR": "10.1.2.3"})
    for index in range(2):
        app.post_json(LOGIN, {"email": f"u{index}@example.com", "password": "whatever-1"}, status=401)
    app.post_json(LOGIN, {"email": "u9@example.com", "password": "whatever-1"}, status=429)
    other_ip = webtest.TestApp(app.app, extra_environ={"REMOTE_ADDR": "10.1.2.4"})
    other_ip.post_json(LOGIN, {"email": "u9@example.com", "password": "whatever-1"}, status=401)


def test_access_token_expires(database_url, clean_db):
    short = app_settings(database_url, **{"auth.access_token_ttl_seconds": "1"})
    app = webtest.TestApp(ticketing.main({}, **short))
    app.post_json(SIGNUP, {"email": "brief@example.com", "password": TEST_PASSWORD, "full_name": "B"})
    token = app.post_json(LOGIN, {"email": "brief@example.com", "password": TEST_PASSWORD}).json["access_token"]
    app.get(ME, headers={"Authorization": f"Bearer {token}"}, status=200)
    time.sleep(7)  # 1 s lifetime + the 5 s clock-skew leeway
    app.get(ME, headers={"Authorization": f"Bearer {token}"}, status=401)
