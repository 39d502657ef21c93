"""A live app process for tests that need real HTTP (crash safety, the README journey).

``pserve`` runs a small ini written by the test (production settings, the test's database)
in a subprocess, exactly as ops would run it.
"""
import base64
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy import text

from ticketing.services import passwords, tokens
from ticketing.settings import normalize_settings

ROOT = Path(__file__).resolve().parents[1]

INI = """
[app:main]
use = egg:ticketing
sqlalchemy.url = {url}
sqlalchemy.pool_size = 8
sqlalchemy.max_overflow = 8
sqlalchemy.pool_pre_ping = false
db.statement_timeout_ms = 5000
db.lock_timeout_ms = 2000
retry.attempts = 3
jinja2.directories = {root}/templates
ticketing.environment = production
auth.jwt_secret = {jwt}
auth.session_secret = {session}
tickets.signing_key = {ticket_key}
pyramid_openapi3.enable_response_validation = {validate_responses}

[server:main]
use = egg:waitress#main
listen = 127.0.0.1:{port}
threads = 8

[loggers]
keys = root
[handlers]
keys = console
[formatters]
keys = generic
[logger_root]
level = WARN
handlers = console
[handler_console]
class = StreamHandler
args = (sys.stderr,)
formatter = generic
[formatter_generic]
format = %(asctime)s %(levelname)s [%(name)s] %(message)s
"""


class App:
    def __init__(self, ini_path, port, log_path):
        self.ini_path, self.port, self.log_path = ini_path, port, log_path
        self.process = None

    def start(self):
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pyramid.scripts.pserve", str(self.ini_path)],
            stdout=log, stderr=log, cwd=ROOT, env={**os.environ, "TICKETING_DISABLE_REQUEST_LIMITS": "1"},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url("/healthz"), timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("the app did not come up; see " + str(self.log_path))

    def kill9(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"


def start_app(database_url, directory, port, validate_responses=False):
    """The app on ``database_url`` (its ini and log in ``directory``), started; returns the
    :class:`App` and the settings whose secret signs its access tokens. ``validate_responses``:
    check every answer against the OpenAPI document, as development does (a broken one is a
    500 and an ERROR line in the log)."""
    jwt, session = "j" * 48, "s" * 48
    key = base64.b64encode(Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption())).decode()
    ini = directory / "app.ini"
    ini.write_text(INI.format(url=database_url.replace("%", "%%"), root=ROOT, jwt=jwt, session=session,
                              ticket_key=key, port=port,
                              validate_responses=str(bool(validate_responses)).lower()))
    app = App(ini, port, directory / "app.log")
    app.start()
    return app, normalize_settings({"auth.jwt_secret": jwt, "auth.session_secret": session}, environ={})


def seed_sale(engine, settings, app_url, seats, buyers, name="crash", max_tickets_per_fan=6):
    """A published match of ``seats`` seats (rows of 20) and ``buyers`` funded fans, through
    the live app as staff would; returns the match id and each fan's Authorization header
    (tokens minted with ``settings``' secret, as /auth/login would). ``name`` keeps the
    e-mail addresses of several sales on one database apart; a long burst by few fans needs
    more than the default 6 tickets each."""
    staff_hash = passwords.hash_password("pitch-side-42", rounds=4)
    with engine.begin() as conn:
        staff_id = conn.execute(text("INSERT INTO users (email, full_name, password_hash, role) "
                                     "VALUES (:name || '-staff@example.com', 'Staff', :h, 'staff') RETURNING id"),
                                {"h": staff_hash, "name": name}).scalar_one()
        fan_ids = conn.execute(text(
            "INSERT INTO users (email, full_name, password_hash) SELECT :name || '-fan' || g || '@example.com', "
            "'Fan', :h FROM generate_series(1, :n) g RETURNING id"),
            {"h": staff_hash, "n": buyers, "name": name}).scalars().all()
        conn.execute(text("INSERT INTO wallets (user_id, balance, currency) SELECT unnest(CAST(:ids AS bigint[])), 1000000, 'EUR'"), {"ids": fan_ids})
        conn.execute(text("INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, currency) "
                          "SELECT unnest(CAST(:ids AS bigint[])), 'top_up', 1000000, 1000000, 'EUR'"), {"ids": fan_ids})
    config = tokens.TokenSettings(settings)

    class _U:
        def __init__(self, user_id, role):
            self.id, self.role = user_id, role

    staff = {"Authorization": "Bearer " + tokens.issue_access_token(config, _U(staff_id, "staff"), uuid.uuid4())}
    stadium = requests.post(app_url("/api/v1/stadiums"), json={"name": f"{name} arena", "city": "X"}, headers=staff).json()
    section = requests.post(app_url(f"/api/v1/stadiums/{stadium['id']}/sections"), headers=staff,
                            json={"name": "A", "rows": [{"label": str(r), "seats": 20} for r in range(1, seats // 20 + 1)]}).json()
    match = requests.post(app_url("/api/v1/matches"), headers=staff, json={
        "stadium_id": stadium["id"], "home_team": "H", "away_team": "A", "starts_at": "2031-01-01T18:00:00Z",
        "max_tickets_per_fan": max_tickets_per_fan}).json()
    category = requests.post(app_url(f"/api/v1/matches/{match['id']}/categories"), headers=staff, json={"name": "C", "price": 1000}).json()
    requests.put(app_url(f"/api/v1/matches/{match['id']}/seating"), headers=staff,
                 json={"assignments": [{"section_id": section["id"], "category_id": category["id"]}]}).raise_for_status()
    requests.post(app_url(f"/api/v1/matches/{match['id']}/publish"), headers=staff).raise_for_status()
    fans = [{"Authorization": "Bearer " + tokens.issue_access_token(config, _U(i, "customer"), uuid.uuid4())} for i in fan_ids]
    return match["id"], fans
