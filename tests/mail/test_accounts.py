"""Accounts by e-mail, end to end: sign-up verification, the no-enumeration sign-up, password
reset (single-use, limited, ends every session), the mail asserted as it reaches the server."""
import re

import pytest
from sqlalchemy import text

from ticketing.models import User
from ticketing.problems import Forbidden
from ticketing.services import recovery

from ..conftest import TEST_PASSWORD
from ..functional.test_auth import assert_problem
from .conftest import text_part

SIGNUP = "/api/v1/auth/signup"
LOGIN = "/api/v1/auth/login"
VERIFY = "/api/v1/auth/verify-email"
RESET = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
NEW_PASSWORD = "block-and-dig-2027"


def token_in(message, path):
    return re.search(rf"/{path}\?token=([\w-]+)", text_part(message)).group(1)


def signup(anonymous, email, **extra):
    return anonymous.post(SIGNUP, {"email": email, "password": TEST_PASSWORD, "full_name": "Ana", **extra},
                          status=201).json


def test_signup_mails_a_link_that_verifies_the_address_once(anonymous, deliver):
    user = signup(anonymous, "ana@example.com")
    assert user["email_verified"] is False
    [message] = deliver()
    assert message["To"] == "ana@example.com" and message["Subject"] == "Confirm your e-mail address"
    token = token_in(message, "verify-email")

    verified = anonymous.post(VERIFY, {"token": token}, status=200).json
    assert verified["id"] == user["id"] and verified["email_verified"] is True
    assert_problem(anonymous.post(VERIFY, {"token": token}, status=422), 422, "token")  # single use
    assert_problem(anonymous.post(VERIFY, {"token": "made-up"}, status=422), 422, "token")


def test_signup_in_slovenian(anonymous, deliver):
    signup(anonymous, "bor@example.com", language="sl")
    [message] = deliver()
    assert message["Subject"] == "Potrdite svoj e-poštni naslov"


def test_a_taken_address_answers_like_a_new_signup_and_mails_its_owner(anonymous, deliver, engine):
    first = signup(anonymous, "ana@example.com")
    deliver()
    again = anonymous.post(SIGNUP, {"email": "ANA@example.com", "password": "another-pass-99", "full_name": "Eve"},
                           status=201)
    body = again.json
    assert set(body) == set(first) and body["id"] > first["id"]
    assert body["email"] == "ana@example.com" and body["email_verified"] is False
    [message] = deliver()
    assert message["To"] == "ana@example.com" and message["Subject"] == "You already have an account"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 1
    # A flood of such sign-ups mails the owner once an hour, not once each.
    anonymous.post(SIGNUP, {"email": "ana@example.com", "password": "another-pass-99", "full_name": "Eve"},
                   status=201)
    assert deliver() == []


def test_password_reset_answers_the_same_for_unknown_addresses(anonymous, deliver):
    signup(anonymous, "ana@example.com")
    deliver()
    known = anonymous.post(RESET, {"email": "Ana@Example.com"}, status=202)
    unknown = anonymous.post(RESET, {"email": "nobody@example.com"}, status=202)
    assert known.json == unknown.json and known.content_type == unknown.content_type
    assert [m["To"] for m in deliver()] == ["ana@example.com"]


def test_reset_sets_the_password_once_and_ends_every_session(anonymous, user_factory, testapp, deliver):
    fan = user_factory(email="cene@example.com")
    deliver()
    anonymous.post(RESET, {"email": "cene@example.com"}, status=202)
    [message] = deliver()
    assert message["Subject"] == "Set a new password"
    token = token_in(message, "reset-password")

    # Every bad field at once; a refused attempt leaves the token usable.
    body = assert_problem(anonymous.post(CONFIRM, {"token": "wrong", "password": "short"}, status=422), 422)
    assert {e["field"] for e in body["errors"]} == {"token", "password"}
    assert_problem(anonymous.post(CONFIRM, {"token": token, "password": "password123"}, status=422), 422, "password")

    anonymous.post(CONFIRM, {"token": token, "password": NEW_PASSWORD}, status=204)
    assert_problem(anonymous.post(CONFIRM, {"token": token, "password": NEW_PASSWORD + "x"}, status=422), 422, "token")
    # Every session and token of the account ended.
    assert_problem(fan.get("/api/v1/me", status=401), 401)
    assert_problem(anonymous.post("/api/v1/auth/refresh", {"refresh_token": fan.user["refresh_token"]},
                                  status=401), 401)
    anonymous.post(LOGIN, {"email": "cene@example.com", "password": TEST_PASSWORD}, status=401)
    pair = anonymous.post(LOGIN, {"email": "cene@example.com", "password": NEW_PASSWORD}, status=200).json
    me = testapp.get("/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"}).json
    assert me["email_verified"] is True  # the link reached the mailbox


def test_a_new_reset_link_kills_none_but_using_one_kills_all(anonymous, user_factory, deliver):
    user_factory(email="dana@example.com")
    deliver()
    anonymous.post(RESET, {"email": "dana@example.com"}, status=202)
    anonymous.post(RESET, {"email": "dana@example.com"}, status=202)
    first, second = (token_in(m, "reset-password") for m in deliver())
    anonymous.post(CONFIRM, {"token": second, "password": NEW_PASSWORD}, status=204)
    assert_problem(anonymous.post(CONFIRM, {"token": first, "password": NEW_PASSWORD}, status=422), 422, "token")


def test_an_expired_link_is_refused(anonymous, user_factory, deliver, engine):
    user_factory(email="eva@example.com")
    deliver()
    anonymous.post(RESET, {"email": "eva@example.com"}, status=202)
    token = token_in(deliver()[0], "reset-password")
    with engine.begin() as conn:
        conn.execute(text("UPDATE account_tokens SET expires_at = now() - interval '1 second'"))
    assert_problem(anonymous.post(CONFIRM, {"token": token, "password": NEW_PASSWORD}, status=422), 422, "token")


def test_tokens_are_stored_hashed(anonymous, user_factory, deliver, engine):
    user_factory(email="fran@example.com")
    token = token_in(deliver()[0], "verify-email")
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM account_tokens")).scalars().all()
        outbox = conn.execute(text("SELECT coalesce(body_text, '') FROM mail_outbox")).scalars().all()
    assert token.encode() not in b"".join(bytes(h) for h in stored)
    assert all(token not in body for body in outbox)  # the sent mail's body is gone too


def test_reset_requests_are_limited_per_address_and_per_client(anonymous, deliver):
    for _ in range(3):
        anonymous.post(RESET, {"email": "gal@example.com"}, status=202)
    assert_problem(anonymous.post(RESET, {"email": "gal@example.com"}, status=429), 429)
    for n in range(16):  # 20 per client address an hour
        anonymous.post(RESET, {"email": f"other-{n}@example.com"}, status=202)
    response = anonymous.post(RESET, {"email": "someone-new@example.com"}, status=429)
    assert_problem(response, 429) and response.headers["Retry-After"]


def test_resend_verification(user_factory, deliver):
    fan = user_factory(email="hana@example.com")
    deliver()
    assert fan.post("/api/v1/me/verification-email", status=202).json == {
        "email": "hana@example.com", "email_verified": False}
    token = token_in(deliver()[0], "verify-email")
    fan.app.post_json(VERIFY, {"token": token}, status=200)
    fan.post("/api/v1/me/verification-email", status=202)
    assert deliver() == []  # verified: nothing more to send


def test_what_an_unverified_account_may_not_do_is_a_403_that_says_what_to_do():
    with pytest.raises(Forbidden) as refused:
        recovery.require_verified_email(User(email="a@example.com"), "transfer a ticket")
    assert "Confirm your e-mail address before you transfer a ticket" in refused.value.detail
    recovery.require_verified_email(User(email="a@example.com", email_verified_at=recovery.utcnow()), "transfer")
