"""Load shedding with the real app and database (decisions 0025, 0035).

First through WebTest, with nginx's stamp (``X-Request-Start``) set by the test on a request
that came through the proxy (``X-Forwarded-For``, which waitress keeps from its trusted proxy
only): a late request that starts work is refused with nothing written, and what finishes
work is served. Then under stock waitress with one thread, kept busy by a hold waiting on a
row lock: the request queued behind it is refused, the health check behind it is not, the
process serves normally once the queue is gone, and a stamp from an address that is not the
trusted proxy is never believed."""
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import text

import ticketing
import waitress

from ..conftest import app_settings
from .catalogue_helpers import published_match
from .test_auth import assert_problem
from ticketing import request_log


def stamp(seconds=0.0):
    """nginx's X-Request-Start for a request it passed on ``seconds`` ago."""
    return f"t={time.time() - seconds:.3f}"


def late(seconds=10.0, through_proxy=True, headers=None):
    """WebTest keyword arguments for a request that waited ``seconds`` since nginx passed it on."""
    headers = {**(headers or {}), "X-Request-Start": stamp(seconds)}
    if through_proxy:
        headers["X-Forwarded-For"] = "203.0.113.7"
    return {"headers": headers}


def holds_of(engine, user_id):
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM holds WHERE user_id = :u"), {"u": user_id}).scalar_one()


def test_a_late_hold_is_refused_with_nothing_written(staff, customer, engine):
    match, *_ = published_match(staff)
    customer.post("/api/v1/wallet/top-ups", {"amount": 50_000}, status=201)
    refused = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=503,
                            **late(headers={"Idempotency-Key": "late-hold-1"}))
    body = assert_problem(refused, 503)
    assert body["type"] == "urn:ticketing:problem:service-busy"
    assert int(refused.headers["Retry-After"]) >= 1 and refused.headers["Cache-Control"] == "no-store"
    assert refused.headers["X-Request-ID"] == body["request_id"]
    assert holds_of(engine, customer.user["id"]) == 0
    # Nothing was started, so the same key is free: the retry is served as a first request.
    retried = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201,
                            **late(0.5, headers={"Idempotency-Key": "late-hold-1"}))
    assert len(retried.json["seats"]) == 2 and holds_of(engine, customer.user["id"]) == 1


def test_late_requests_that_finish_work_are_served(staff, customer, user_factory, engine):
    match, *_ = published_match(staff)
    customer.post("/api/v1/wallet/top-ups", {"amount": 50_000}, status=201)
    hold = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201).json
    order = customer.post(f"/api/v1/holds/{hold['id']}/checkout", status=201, **late()).json
    assert order["status"] == "paid" and len(order["tickets"]) == 2

    other = user_factory()
    other.post("/api/v1/wallet/top-ups", {"amount": 50_000}, status=201)
    released = other.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json
    other.delete(f"/api/v1/holds/{released['id']}", status=204, **late())
    assert other.get(f"/api/v1/holds/{released['id']}").json["status"] == "released"

    scanned = staff.post(f"/api/v1/matches/{match['id']}/check-ins", {"code": order["tickets"][0]["code"]},
                         status=200, **late())
    assert scanned.json["result"] == "admitted"


def test_a_checkout_that_waited_three_times_the_limit_is_refused_and_can_be_retried(staff, customer, engine):
    match, *_ = published_match(staff)
    customer.post("/api/v1/wallet/top-ups", {"amount": 50_000}, status=201)
    hold = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201).json
    key = {"Idempotency-Key": "stalled-checkout"}
    assert_problem(customer.post(f"/api/v1/holds/{hold['id']}/checkout", status=503, **late(16, headers=key)), 503)
    assert customer.get(f"/api/v1/holds/{hold['id']}").json["status"] == "active"
    assert customer.get("/api/v1/wallet").json["balance"] == 50_000
    order = customer.post(f"/api/v1/holds/{hold['id']}/checkout", status=201, headers=key).json
    assert order["status"] == "paid"


def test_a_stamp_that_did_not_come_through_the_proxy_is_ignored(customer, anonymous):
    """Without X-Forwarded-For (waitress removes it from anyone but its trusted proxy) the
    request did not come through nginx, and its X-Request-Start is the client's own."""
    assert anonymous.get("/api/v1/matches", status=200, **late(through_proxy=False)).json["items"] == []
    customer.post("/api/v1/wallet/top-ups", {"amount": 1_000}, status=201, **late(through_proxy=False))


def test_late_reads_and_top_ups_are_refused_but_health_and_admin_are_not(customer, anonymous):
    assert_problem(anonymous.get("/api/v1/matches", status=503, **late()), 503)
    assert_problem(customer.post("/api/v1/wallet/top-ups", {"amount": 1_000}, status=503, **late()), 503)
    assert customer.get("/api/v1/wallet").json["balance"] == 0
    assert anonymous.get("/healthz", status=200, **late()).json["database"] == "ok"
    assert anonymous.get("/admin/login", status=200, **late()).content_type == "text/html"


def serve_one_thread(app, **options):
    """Stock waitress with a single thread on a free port; returns (base URL, server)."""
    server = waitress.create_server(app, listen="127.0.0.1:0", threads=1, clear_untrusted_proxy_headers=True,
                                    **options)
    threading.Thread(target=server.run, daemon=True).start()
    return f"http://127.0.0.1:{server.effective_port}", server


@pytest.fixture
def app_with_short_wait(database_url):
    """The real app with a 300 ms wait limit."""
    app = ticketing.main({}, **app_settings(database_url, **{"ticketing.max_queue_wait_ms": "300"}))
    yield app
    app.registry["db_engine"].dispose()


@pytest.fixture
def one_thread_server(app_with_short_wait):
    """The app under stock waitress with one thread, behind its trusted proxy (this test)."""
    base, server = serve_one_thread(app_with_short_wait, trusted_proxy="127.0.0.1",
                                    trusted_proxy_headers="x-forwarded-for x-forwarded-proto")
    yield base
    server.close()
    server.task_dispatcher.shutdown(timeout=5)


def as_nginx(headers=None):
    """The headers nginx adds (deploy/nginx.conf), stamped now."""
    return {**(headers or {}), "X-Forwarded-For": "198.51.100.20", "X-Forwarded-Proto": "http",
            "X-Request-Start": stamp()}


def test_under_the_real_server_the_request_queued_behind_a_stuck_one_is_refused(
    staff, customer, engine, one_thread_server
):
    match, *_ = published_match(staff)
    customer.post("/api/v1/wallet/top-ups", {"amount": 50_000}, status=201)
    auth = {"Authorization": f"Bearer {customer.token}"}
    summary = f"{one_thread_server}/api/v1/matches/{match['id']}/summary"
    with engine.connect() as locker, ThreadPoolExecutor(max_workers=3) as pool:
        transaction = locker.begin()
        # The fan's wallet row, locked: the hold (the only thread) waits on it.
        locker.execute(text("SELECT 1 FROM wallets WHERE user_id = :u FOR UPDATE"), {"u": customer.user["id"]})
        hold = pool.submit(requests.post, f"{one_thread_server}/api/v1/matches/{match['id']}/holds",
                           json={"quantity": 2}, headers=as_nginx(auth), timeout=30)
        time.sleep(0.3)
        queued = pool.submit(requests.get, summary, headers=as_nginx(), timeout=30)
        health = pool.submit(requests.get, f"{one_thread_server}/healthz", headers=as_nginx(), timeout=30)
        time.sleep(0.6)
        transaction.commit()
        hold, queued, health = hold.result(), queued.result(), health.result()
    assert hold.status_code == 201 and len(hold.json()["seats"]) == 2
    assert queued.status_code == 503 and queued.headers["Content-Type"] == "application/problem+json"
    assert queued.json()["type"] == "urn:ticketing:problem:service-busy"
    assert health.status_code == 200
    # The queue is gone: the same read is served.
    assert requests.get(summary, headers=as_nginx(), timeout=30).json()["held"] == 2


def test_under_the_real_server_a_stamp_from_an_untrusted_address_is_ignored(staff, app_with_short_wait):
    """The same late stamp and proxy headers, sent to waitress whose trusted proxy is another
    address: waitress drops X-Forwarded-For, so the request is served however old its stamp."""
    match, *_ = published_match(staff)
    summary = f"/api/v1/matches/{match['id']}/summary"
    old = {"X-Forwarded-For": "198.51.100.20", "X-Request-Start": stamp(60)}
    trusting_other, server = serve_one_thread(app_with_short_wait, trusted_proxy="192.0.2.1",
                                              trusted_proxy_headers="x-forwarded-for")
    try:
        assert requests.get(trusting_other + summary, headers=old, timeout=30).status_code == 200
    finally:
        server.close()
        server.task_dispatcher.shutdown(timeout=5)
    trusting_us, server = serve_one_thread(app_with_short_wait, trusted_proxy="127.0.0.1",
                                           trusted_proxy_headers="x-forwarded-for")
    try:  # the control: from the trusted proxy, the same request is refused
        assert requests.get(trusting_us + summary, headers=old, timeout=30).status_code == 503
    finally:
        server.close()
        server.task_dispatcher.shutdown(timeout=5)


def signup_burst(app, count, prefix):
    """``count`` signups sent at once, each stamped as nginx would, to a one-thread waitress."""
    base, server = serve_one_thread(app, trusted_proxy="127.0.0.1", trusted_proxy_headers="x-forwarded-for")
    try:
        with ThreadPoolExecutor(max_workers=count) as pool:
            answers = list(pool.map(lambda n: requests.post(
                f"{base}/api/v1/auth/signup", headers=as_nginx(), timeout=60,
                json={"email": f"{prefix}-{n}@example.com", "password": "spike-and-block-7", "full_name": "Fan"}),
                range(count)))
    finally:
        server.close()
        server.task_dispatcher.shutdown(timeout=5)
    return [answer.status_code for answer in answers]


@pytest.mark.slow
def test_a_signup_burst_waits_in_line_and_every_refusal_is_logged(database_url, clean_db, monkeypatch, caplog):
    """Eight signups at once with bcrypt's production cost (12 rounds) queue behind one thread
    for up to seven hashes' time. The wait limit is set to 3.5 hashes' time (measured here, so
    the test holds on a faster or slower machine; twice the margin, for a machine whose speed
    changes under other load): signups may wait four times it (routes.py), 14 hashes, so all
    are served. The control builds the app with signups given no extra patience: the
    same burst is partly refused, and every refusal has its own access-log line."""
    from ticketing import routes
    from ticketing.services import passwords

    timings = []
    for _ in range(3):
        started = time.perf_counter()
        passwords.hash_password("spike-and-block-7", 12)
        timings.append((time.perf_counter() - started) * 1000)
    one_hash_ms = sorted(timings)[1]
    settings = app_settings(database_url, **{"auth.bcrypt_rounds": "12",
                                             "ticketing.max_queue_wait_ms": str(round(3.5 * one_hash_ms))})
    patient = ticketing.main({}, **settings)
    assert signup_burst(patient, 8, "patient") == [201] * 8

    monkeypatch.setattr(routes, "HASHES_A_PASSWORD", 1)
    impatient = ticketing.main({}, **settings)
    caplog.set_level(logging.INFO, logger="ticketing.access")
    statuses = signup_burst(impatient, 8, "impatient")
    refused = statuses.count(503)
    assert refused >= 2 and set(statuses) <= {201, 503}, statuses
    logged = [request_log.fields_of(r) for r in caplog.records if r.name == "ticketing.access"]
    assert sum(1 for line in logged if line["status"] == 503 and line["path"] == "/api/v1/auth/signup") == refused
    for app in (patient, impatient):
        app.registry["db_engine"].dispose()
