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


def test_duplicate_email_in_another_case_answers_like_a_new_signup(anonymous, engine):
    """No 409: that told anyone which addresses are registered (decision 0056)."""
    first = anonymous.post(SIGNUP, {"email": "dup@example.com", "password": TEST_PASSWORD, "full_name": "A"},
                           status=201).json
    again = anonymous.post(
        SIGNUP, {"email": "DUP@Example.com", "password": TEST_PASSWORD, "full_name": "B"}, status=201
    ).json
    assert set(again) == set(first) and again["id"] != first["id"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users WHERE email = 'dup@example.com'")).scalar_one() == 1


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


def test_every_bad_signup_field_is_reported_at_once(anonymous):
    """The schema's errors (an empty name) and the service's (the e-mail, the password) come
    in one answer; before, only full_name was reported."""
    body = assert_problem(anonymous.post(
        SIGNUP, {"email": "not-an-email", "password": "x", "full_name": ""}, status=422), 422)
    assert {error["field"] for error in body["errors"]} == {"email", "password", "full_name"}
    # A field of the wrong type is the schema's to report, once; the others still come along.
    body = assert_problem(anonymous.post(
        SIGNUP, {"email": 42, "password": "short", "full_name": "X"}, status=422), 422)
    assert {error["field"] for error in body["errors"]} == {"email", "password"}


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
        "fam": "5f1d8a56-8a52-4c6f-9b4f-1c0a8e6d2a11",
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
        "no refresh family (so no logout could end it)": _token(settings, sub=sub, fam=None),
        "a family that is not a uuid": _token(settings, sub=sub, fam="1 OR 1=1"),
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


def throttled_app(database_url, **limits):
    # Day-long fixed windows: a window boundary cannot fall inside a test of a few seconds.
    settings = {"ratelimit.auth_per_ip": "1000", "ratelimit.auth_per_account_client": "3",
                "ratelimit.auth_untrusted_per_account": "5", "ratelimit.auth_untrusted_window_seconds": "86400",
                "ratelimit.auth_window_seconds": "86400", "ratelimit.auth_per_device": "3"}
    settings.update(limits)
    return ticketing.main({}, **app_settings(database_url, **settings))


def from_address(app, address):
    return webtest.TestApp(app, extra_environ={"REMOTE_ADDR": address})


def test_guessing_from_many_addresses_cannot_lock_the_owner_out(database_url, clean_db):
    """Twenty wrong passwords from ten addresses spend the account's budget for untrusted
    clients, yet the owner, on a device that logged in before, gets in at once (OWASP's device
    cookies). Before, ten wrong passwords locked the owner out for five minutes."""
    app = throttled_app(database_url)
    owner = from_address(app, "10.0.0.1")
    owner.post_json(SIGNUP, {"email": "owner@example.com", "password": TEST_PASSWORD, "full_name": "O"}, status=201)
    device = owner.post_json(LOGIN, {"email": "owner@example.com", "password": TEST_PASSWORD}).json["device_token"]
    statuses = [from_address(app, f"198.51.100.{n % 10}").post_json(
        LOGIN, {"email": "owner@example.com", "password": f"guess-number-{n}"}, expect_errors=True).status_int
        for n in range(20)]
    assert statuses[:4] == [401] * 4 and set(statuses[4:]) == {429}  # the owner's login was the fifth
    # The owner's right password from an untrusted client waits with everyone else...
    assert_problem(from_address(app, "10.0.0.7").post_json(
        LOGIN, {"email": "owner@example.com", "password": TEST_PASSWORD}, expect_errors=True), 429)
    # ...but the owner's device gets in, by the token in the body or by the cookie alone.
    phone = from_address(app, "10.0.0.8")
    pair = phone.post_json(LOGIN, {"email": "owner@example.com", "password": TEST_PASSWORD,
                                   "device_token": device}, status=200).json
    assert pair["access_token"] and pair["device_token"]
    browser = from_address(app, "10.0.0.9")
    browser.set_cookie("ticketing_device", device)
    browser.post_json(LOGIN, {"email": "owner@example.com", "password": TEST_PASSWORD}, status=200)
    # A device token is the account's only: it does not open another account's budget.
    from_address(app, "10.0.0.8").post_json(LOGIN, {"email": "other@example.com", "password": "guess-1",
                                                    "device_token": device}, status=401)


def test_untrusted_clients_are_slowed_down_not_locked_out(database_url, clean_db):
    app = throttled_app(database_url, **{"ratelimit.auth_untrusted_per_account": "2",
                                         "ratelimit.auth_untrusted_window_seconds": "3"})
    from_address(app, "10.0.1.1").post_json(
        SIGNUP, {"email": "slow@example.com", "password": TEST_PASSWORD, "full_name": "S"}, status=201)
    time.sleep(3 - time.time() % 3)  # windows are fixed: start at the beginning of one
    for n in range(2):
        from_address(app, f"10.0.1.{10 + n}").post_json(
            LOGIN, {"email": "slow@example.com", "password": "guess-number-1"}, status=401)
    refused = from_address(app, "10.0.1.20").post_json(
        LOGIN, {"email": "slow@example.com", "password": TEST_PASSWORD}, expect_errors=True)
    assert_problem(refused, 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 3
    time.sleep(3 - time.time() % 3 + 0.1)
    from_address(app, "10.0.1.20").post_json(LOGIN, {"email": "slow@example.com", "password": TEST_PASSWORD},
                                             status=200)


def test_a_known_device_is_held_to_no_budget_but_its_own(database_url, clean_db):
    """The owner's device gets in from an address whose budget others spent (a venue's Wi-Fi,
    a carrier's NAT), and a refresh token of the account, even a rotated one, proves the device
    as well as a device token does."""
    app = throttled_app(database_url, **{"ratelimit.auth_per_ip": "3"})
    owner = from_address(app, "10.2.0.1")
    owner.post_json(SIGNUP, {"email": "known@example.com", "password": TEST_PASSWORD, "full_name": "K"}, status=201)
    first = owner.post_json(LOGIN, {"email": "known@example.com", "password": TEST_PASSWORD}).json
    owner.post_json(REFRESH, {"refresh_token": first["refresh_token"]}, status=200)  # rotated now
    venue = from_address(app, "10.2.0.2")
    for n in range(3):  # others on the same address spend its budget
        venue.post_json(LOGIN, {"email": f"someone-{n}@example.com", "password": "guess-1"}, status=401)
    venue.post_json(LOGIN, {"email": "known@example.com", "password": TEST_PASSWORD}, status=429)
    venue.post_json(LOGIN, {"email": "known@example.com", "password": TEST_PASSWORD,
                            "device_token": first["device_token"]}, status=200)
    venue.post_json(LOGIN, {"email": "known@example.com", "password": TEST_PASSWORD,
                            "refresh_token": first["refresh_token"]}, status=200)
    # Another account's refresh token proves nothing for this one.
    venue.post_json(LOGIN, {"email": "other@example.com", "password": "guess-1",
                            "refresh_token": first["refresh_token"]}, status=429)


def test_ipv6_clients_count_per_64(database_url, clean_db):
    app = throttled_app(database_url, **{"ratelimit.auth_per_ip": "2"})
    for address in ("2001:db8:1:2::1", "2001:db8:1:2::ffff"):
        from_address(app, address).post_json(LOGIN, {"email": f"{address[-1]}@example.com", "password": "guess-1"},
                                             status=401)
    from_address(app, "2001:db8:1:2:abcd::9").post_json(LOGIN, {"email": "z@example.com", "password": "guess-1"},
                                                        status=429)
    from_address(app, "2001:db8:1:3::1").post_json(LOGIN, {"email": "z@example.com", "password": "guess-1"},
                                                   status=401)


def test_one_client_is_limited_per_account_across_app_instances(database_url, clean_db):
    """The (account, address) budget lives in PostgreSQL: two apps stand for two processes."""
    first = from_address(throttled_app(database_url), "10.9.9.9")
    second = from_address(throttled_app(database_url), "10.9.9.9")
    body = {"email": "target@example.com", "password": "wrong-password-1"}
    statuses = [app.post_json(LOGIN, body, expect_errors=True).status_int for app in (first, second, first, second)]
    assert statuses == [401, 401, 401, 429]
    response = second.post_json(LOGIN, body, expect_errors=True)
    assert_problem(response, 429)
    assert 1 <= int(response.headers["Retry-After"]) <= 86400
    # Another address still has its own budget for the account.
    from_address(first.app, "10.9.9.10").post_json(LOGIN, body, status=401)


def test_logout_ends_the_families_access_tokens_at_once(anonymous, testapp, customer):
    """Before, an access token kept working for up to 15 minutes after its logout."""
    other_login = anonymous.post(LOGIN, {"email": customer.user["email"], "password": TEST_PASSWORD}).json
    testapp.get(ME, headers={"Authorization": f"Bearer {customer.token}"}, status=200)
    anonymous.post(LOGOUT, {"refresh_token": customer.user["refresh_token"]}, status=204)
    body = assert_problem(testapp.get(ME, headers={"Authorization": f"Bearer {customer.token}"}, status=401), 401)
    assert "invalid or expired" in body["detail"]
    # The account's other login (another family: another device) is not logged out.
    testapp.get(ME, headers={"Authorization": f"Bearer {other_login['access_token']}"}, status=200)


def test_a_replayed_refresh_token_ends_the_families_access_tokens(anonymous, testapp, customer):
    rotated = anonymous.post(REFRESH, {"refresh_token": customer.user["refresh_token"]}, status=200).json
    testapp.get(ME, headers={"Authorization": f"Bearer {rotated['access_token']}"}, status=200)
    anonymous.post(REFRESH, {"refresh_token": customer.user["refresh_token"]}, status=401)  # the replay
    for token in (customer.token, rotated["access_token"]):
        testapp.get(ME, headers={"Authorization": f"Bearer {token}"}, status=401)


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
