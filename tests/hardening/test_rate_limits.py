"""Abuse limits on holds and checkouts hold across processes (two app instances here)."""
import webtest

import ticketing

from ..conftest import app_settings, make_user
from ..functional.catalogue_helpers import published_match
from ..functional.test_auth import assert_problem


def test_hold_limit_per_user_spans_app_instances(database_url, clean_db, engine):
    limited = app_settings(database_url, **{"ratelimit.holds_per_user": "3", "ratelimit.holds_per_ip": "0"})
    first = webtest.TestApp(ticketing.main({}, **limited), extra_environ={"REMOTE_ADDR": "10.0.0.1"})
    second = webtest.TestApp(ticketing.main({}, **limited), extra_environ={"REMOTE_ADDR": "10.0.0.2"})
    staff = make_user(first, engine, "staff")
    match, *_ = published_match(staff)
    fan = make_user(first, engine, "customer")
    headers = {"Authorization": f"Bearer {fan.token}"}
    url = f"/api/v1/matches/{match['id']}/holds"
    statuses = [app.post_json(url, {"quantity": 1}, headers=headers, expect_errors=True).status_int
                for app in (first, second, first, second)]
    assert statuses == [201, 201, 201, 429]
    response = second.post_json(url, {"quantity": 1}, headers=headers, expect_errors=True)
    assert_problem(response, 429)
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    other = make_user(first, engine, "customer")
    first.post_json(url, {"quantity": 1}, headers={"Authorization": f"Bearer {other.token}"}, status=201)


def test_checkout_limit_per_ip(database_url, clean_db, engine):
    limited = app_settings(database_url, **{"ratelimit.checkouts_per_ip": "1"})
    app = webtest.TestApp(ticketing.main({}, **limited), extra_environ={"REMOTE_ADDR": "10.0.0.9"})
    staff = make_user(app, engine, "staff")
    match, *_ = published_match(staff)
    fans = [make_user(app, engine, "customer") for _ in range(2)]
    holds = []
    for fan in fans:
        fan.post("/api/v1/wallet/top-ups", {"amount": 50_000}, status=201)
        holds.append(fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json)
    fans[0].post(f"/api/v1/holds/{holds[0]['id']}/checkout", status=201)
    assert_problem(fans[1].post(f"/api/v1/holds/{holds[1]['id']}/checkout", status=429), 429)
