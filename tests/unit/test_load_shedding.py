"""Load shedding (ticketing/load_shedding.py, decision 0025) as a WSGI middleware, with a clock
the test moves: which requests are refused, what the refusal says, and the summary log."""
import json
import logging

import pytest

from ticketing.load_shedding import FINISHING_WORK_PATIENCE, SUMMARY_EVERY_SECONDS, QueueWaitLimit, patience
from ticketing.load_shedding import QUEUED_AT


class Clock:
    def __init__(self):
        self.now = 500.0

    def __call__(self):
        return self.now


class Downstream:
    def __init__(self):
        self.calls = 0

    def __call__(self, environ, start_response):
        self.calls += 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"served"]


def call(app, method, path, queued_at, headers=None):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, **(headers or {})}
    if queued_at is not None:
        environ[QUEUED_AT] = queued_at
    answer = {}

    def start_response(status, response_headers):
        answer["status"], answer["headers"] = status, dict(response_headers)

    answer["body"] = b"".join(app(environ, start_response))
    return answer


@pytest.fixture
def limited():
    clock, downstream = Clock(), Downstream()
    return QueueWaitLimit(downstream, 2.0, production=True, clock=clock), clock, downstream


@pytest.mark.parametrize("method, path, expected", [
    ("POST", "/api/v1/matches/7/holds", 1),
    ("GET", "/api/v1/matches/7/seats", 1),
    ("GET", "/api/v1/matches", 1),
    ("POST", "/api/v1/wallet/top-ups", 1),
    ("POST", "/api/v1/auth/login", 1),
    ("GET", "/api/v1/holds/12", 1),
    ("POST", "/api/v1/holds/12/checkout", FINISHING_WORK_PATIENCE),
    ("POST", "/api/v1/holds/12/checkout/", FINISHING_WORK_PATIENCE),
    ("DELETE", "/api/v1/holds/12", FINISHING_WORK_PATIENCE),
    ("POST", "/api/v1/matches/7/check-ins", FINISHING_WORK_PATIENCE),
    ("GET", "/api/v1/matches/7/check-ins", 1),
    ("GET", "/healthz", 0),
    ("GET", "/admin/matches", 0),
    ("POST", "/admin/login", 0),
    ("POST", "/admin/matches/7/gate", 0),
])
def test_how_long_each_request_may_wait(method, path, expected):
    assert patience(method, path) == expected


def test_a_request_that_waited_less_than_the_limit_is_served(limited):
    app, clock, downstream = limited
    answer = call(app, "POST", "/api/v1/matches/7/holds", clock.now - 1.9)
    assert answer["status"] == "200 OK" and downstream.calls == 1


def test_a_request_that_waited_too_long_is_refused_unstarted(limited):
    app, clock, downstream = limited
    answer = call(app, "POST", "/api/v1/matches/7/holds", clock.now - 2.5, {"HTTP_X_REQUEST_ID": "rush-1"})
    assert downstream.calls == 0
    assert answer["status"] == "503 Service Unavailable"
    headers = answer["headers"]
    assert headers["Content-Type"] == "application/problem+json"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Request-ID"] == "rush-1"
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert 1 <= int(headers["Retry-After"]) <= 2
    assert int(headers["Content-Length"]) == len(answer["body"])
    body = json.loads(answer["body"])
    assert body["type"] == "urn:ticketing:problem:service-busy"
    assert body["status"] == 503 and body["errors"] == [] and body["request_id"] == "rush-1"
    assert "2.5 s" in body["detail"] and f"Retry in {headers['Retry-After']} s" in body["detail"]


def test_retry_after_is_spread_over_the_range(limited):
    app, clock, _ = limited
    seen = {int(call(app, "GET", "/api/v1/matches", clock.now - 3)["headers"]["Retry-After"]) for _ in range(300)}
    assert seen == {1, 2}


def test_what_finishes_work_waits_three_times_the_limit(limited):
    app, clock, downstream = limited
    for method, path in (("POST", "/api/v1/holds/12/checkout"), ("DELETE", "/api/v1/holds/12"),
                         ("POST", "/api/v1/matches/7/check-ins")):
        assert call(app, method, path, clock.now - 5.9)["status"] == "200 OK"
        assert call(app, method, path, clock.now - 6.1)["status"] == "503 Service Unavailable"
    assert downstream.calls == 3


def test_health_and_admin_are_served_however_long_they_waited(limited):
    app, clock, downstream = limited
    for method, path in (("GET", "/healthz"), ("GET", "/admin/"), ("POST", "/admin/matches/7/gate")):
        assert call(app, method, path, clock.now - 600)["status"] == "200 OK"
    assert downstream.calls == 3


def test_without_the_servers_stamp_nothing_is_shed(limited):
    app, _, downstream = limited
    assert call(app, "POST", "/api/v1/matches/7/holds", None)["status"] == "200 OK"
    assert downstream.calls == 1


def test_refusals_are_logged_as_one_summary_line_per_interval(limited, caplog):
    app, clock, _ = limited
    caplog.set_level(logging.WARNING, logger="ticketing.load_shedding")
    for wait in (2.5, 4.0, 3.0):
        call(app, "GET", "/api/v1/matches", clock.now - wait)
    assert caplog.records == []
    clock.now += SUMMARY_EVERY_SECONDS
    call(app, "GET", "/api/v1/matches", clock.now - 2.2)
    (line,) = caplog.records
    assert "refused 4 API requests" in line.getMessage() and "longest wait 4.00 s" in line.getMessage()
    clock.now += 1
    call(app, "GET", "/api/v1/matches", clock.now - 2.2)
    assert len(caplog.records) == 1  # the next line waits for the next interval
