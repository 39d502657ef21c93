"""Shared fixtures: a fresh migrated database, the WSGI app, and API clients."""
import base64
import re
import uuid

import pytest
import webtest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy import text
from sqlalchemy.orm import Session

import ticketing
from ticketing.models import get_engine

from . import database

TEST_PASSWORD = "pitch-side-42"
TICKET_KEY = base64.b64encode(
    Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
).decode("ascii")


def app_settings(database_url, **overrides):
    settings = {
        "sqlalchemy.url": database_url,
        "sqlalchemy.pool_size": "10",
        "sqlalchemy.max_overflow": "30",
        "sqlalchemy.pool_pre_ping": "false",  # as production.ini (decision 0016)
        "retry.attempts": "3",
        "jinja2.directories": str(database.ROOT / "templates"),
        "ticketing.environment": "test",
        "auth.jwt_secret": "test-secret-" + "x" * 40,
        "auth.session_secret": "test-session-" + "y" * 40,
        "auth.bcrypt_rounds": "4",
        "ratelimit.auth_per_ip": "100000",
        "ratelimit.auth_per_email": "100000",
        "ratelimit.auth_per_account_client": "100000",
        "ratelimit.auth_per_device": "100000",
        "ratelimit.auth_untrusted_per_account": "100000",
        "ratelimit.auth_window_seconds": "300",
        "ratelimit.holds_per_user": "0",
        "ratelimit.holds_per_ip": "0",
        "ratelimit.checkouts_per_user": "0",
        "ratelimit.checkouts_per_ip": "0",
        "tickets.signing_key": TICKET_KEY,
        "pyramid_openapi3.enable_request_validation": "true",
        "pyramid_openapi3.enable_response_validation": "true",
    }
    settings.update(overrides)
    return settings


@pytest.fixture(scope="session")
def database_url():
    base = database.server_url()
    url, name = database.create_test_database(base)
    database.migrate(url)
    yield url
    database.drop_test_database(base, name)


@pytest.fixture(scope="session")
def settings(database_url):
    return app_settings(database_url)


@pytest.fixture(scope="session")
def wsgi_app(settings):
    return ticketing.main({}, **settings)


@pytest.fixture(scope="session")
def engine(settings):
    engine = get_engine(ticketing.settings.normalize_settings(settings))
    yield engine
    engine.dispose()


def _truncate_all(engine):
    with engine.begin() as conn:
        tables = conn.execute(
            text(
                "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables "
                "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
        ).scalar_one()
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def clean_db(engine):
    """Functional and concurrency tests commit for real; each starts from empty tables."""
    _truncate_all(engine)
    yield engine


@pytest.fixture
def dbsession(engine):
    """A session inside an outer transaction that is rolled back after the test."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    yield session
    session.close()
    outer.rollback()
    connection.close()


@pytest.fixture
def testapp(wsgi_app, clean_db):
    return webtest.TestApp(wsgi_app, extra_environ={"REMOTE_ADDR": "127.0.0.1"})


class ApiClient:
    """A thin WebTest wrapper that remembers a bearer token."""

    def __init__(self, app, token=None, user=None):
        self.app = app
        self.token = token
        self.user = user

    def _headers(self, headers):
        headers = dict(headers or {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return headers

    def get(self, url, status=None, headers=None, **kw):
        return self.app.get(url, headers=self._headers(headers), status=status, **kw)

    def delete(self, url, status=None, headers=None, **kw):
        return self.app.delete(url, headers=self._headers(headers), status=status, **kw)

    def post(self, url, body=None, status=None, headers=None, **kw):
        return self.app.post_json(url, body if body is not None else {}, headers=self._headers(headers), status=status, **kw)

    def put(self, url, body=None, status=None, headers=None, **kw):
        return self.app.put_json(url, body, headers=self._headers(headers), status=status, **kw)

    def patch(self, url, body=None, status=None, headers=None, **kw):
        return self.app.patch_json(url, body, headers=self._headers(headers), status=status, **kw)


_VERIFY_LINK = re.compile(r"/verify-email\?token=([\w-]+)")

_UNSENT_LINK = text(
    "SELECT body_text FROM mail_outbox WHERE user_id = :u AND template = 'verify_email' "
    "AND body_text IS NOT NULL ORDER BY id DESC LIMIT 1"
)


def verify_email(client, engine):
    """Confirm ``client``'s address as the fan would: follow the link of the mail the sign-up
    queued (or, once that was sent and its body emptied, of a new one they ask for). Giving
    tickets away and withdrawing wait for this (decision 0056)."""
    with engine.connect() as conn:
        body = conn.execute(_UNSENT_LINK, {"u": client.user["id"]}).scalar_one_or_none()
    if body is None:
        client.post("/api/v1/me/verification-email", status=202)
        with engine.connect() as conn:
            body = conn.execute(_UNSENT_LINK, {"u": client.user["id"]}).scalar_one()
    client.app.post_json("/api/v1/auth/verify-email", {"token": _VERIFY_LINK.search(body).group(1)}, status=200)
    client.user["email_verified"] = True
    return client


def make_user(app, engine, role="customer", email=None, password=TEST_PASSWORD, full_name="Test Fan",
              verified=False):
    """Sign up and log in through the API. ``verified``: the fan has also followed the link
    in their sign-up mail (what a transfer or a withdrawal needs)."""
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    user = app.post_json(
        "/api/v1/auth/signup", {"email": email, "password": password, "full_name": full_name}
    ).json
    if role != "customer":
        with engine.begin() as conn:
            conn.execute(text("UPDATE users SET role = :role WHERE id = :id"), {"role": role, "id": user["id"]})
    tokens = app.post_json("/api/v1/auth/login", {"email": email, "password": password}).json
    client = ApiClient(app, tokens["access_token"], {**user, "role": role, "password": password, **tokens})
    return verify_email(client, engine) if verified else client


@pytest.fixture
def anonymous(testapp):
    return ApiClient(testapp)


@pytest.fixture
def customer(testapp, engine):
    return make_user(testapp, engine, "customer")


@pytest.fixture
def staff(testapp, engine):
    return make_user(testapp, engine, "staff")


@pytest.fixture
def admin(testapp, engine):
    return make_user(testapp, engine, "admin")


@pytest.fixture
def user_factory(testapp, engine):
    return lambda role="customer", **kw: make_user(testapp, engine, role, **kw)
