"""A live app process for tests that need real HTTP (crash safety, the README journey).

``pserve`` runs a small ini written by the test (production settings, the test's database)
in a subprocess, exactly as ops would run it.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

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
tm.manager_hook = pyramid_tm.explicit_manager
retry.attempts = 3
jinja2.directories = {root}/templates
ticketing.environment = production
auth.jwt_secret = {jwt}
auth.session_secret = {session}
tickets.signing_key = {ticket_key}
pyramid_openapi3.enable_response_validation = false

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


