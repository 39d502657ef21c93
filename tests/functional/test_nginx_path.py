"""The production path for real: Debian's nginx running deploy/nginx.conf in front of the app
on stock waitress (as production.ini configures it, trusting 127.0.0.1).

- The public seat map is answered by nginx's micro-cache: a miss, then hits; a poll's
  If-None-Match is answered by nginx; once the second is up nginx revalidates with the ETag
  (a 304 from the app keeps the entry) and a changed map replaces it.
- Signed-in callers and drafts bypass the cache and are never stored in it.
- Load shedding reads nginx's stamp: a request queued behind a stuck thread is refused when
  it came through the stamping nginx, and served through one that does not stamp.
- Waiting room joins that the processes cannot take yet count against their own connections:
  past them a join is refused as busy while a hold still gets through (decision 0067).
"""
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import requests
import waitress
from sqlalchemy import text

import ticketing
from bench import nginx

from ..conftest import app_settings
from ..system_packages import require
from .catalogue_helpers import published_match
from ticketing import request_log


@pytest.fixture(autouse=True, scope="module")
def nginx_installed():
    require(nginx.executable(), "nginx", "the production path's tests")


def serve(app, threads=4):
    """Stock waitress as production.ini configures it behind nginx; returns its port holder."""
    server = waitress.create_server(app, listen="127.0.0.1:0", threads=threads, trusted_proxy="127.0.0.1",
                                    trusted_proxy_headers="x-forwarded-for x-forwarded-proto",
                                    clear_untrusted_proxy_headers=True)
    threading.Thread(target=server.run, daemon=True).start()
    return server, SimpleNamespace(port=server.effective_port)


def stop(server):
    server.close()
    server.task_dispatcher.shutdown(timeout=5)


@pytest.fixture(scope="module")
def app_server(wsgi_app):
    server, upstream = serve(wsgi_app)
    yield upstream
    stop(server)


@pytest.fixture
def through_nginx(app_server):
    """A fresh nginx (and micro-cache) per test: the tests' ids start again at 1."""
    proxy = nginx.Nginx([app_server], name="nginx-test", per_address=100)
    yield proxy.base
    proxy.stop()


def seats(base, match_id, headers=None):
    return requests.get(f"{base}/api/v1/matches/{match_id}/seats", headers=headers or {}, timeout=10)


def test_the_public_seat_map_is_answered_by_nginx_and_revalidated(through_nginx, staff, customer, clean_db,
                                                                   caplog):
    match, *_ = published_match(staff)
    first = seats(through_nginx, match["id"])
    assert first.status_code == 200 and first.headers["X-Cache-Status"] == "MISS"
    assert first.headers["Cache-Control"] == "public, max-age=0, s-maxage=1"
    etag = first.headers["ETag"]
    again = seats(through_nginx, match["id"])
    assert again.headers["X-Cache-Status"] == "HIT" and again.json() == first.json()
    poll = seats(through_nginx, match["id"], {"If-None-Match": etag})
    assert poll.status_code == 304 and poll.headers["X-Cache-Status"] == "HIT" and poll.headers["ETag"] == etag

    # Once the second is up (nginx counts whole seconds) nothing changed: the poll gets the
    # stale entry while nginx asks the app in the background with the ETag, and the app
    # confirms it with a 304 (its own access log says so).
    caplog.set_level(logging.INFO, logger="ticketing.access")
    seen = set()
    deadline = time.monotonic() + 4
    while "STALE" not in seen and time.monotonic() < deadline:
        time.sleep(0.3)
        unchanged = seats(through_nginx, match["id"], {"If-None-Match": etag})
        assert unchanged.status_code == 304 and unchanged.headers["ETag"] == etag
        seen.add(unchanged.headers["X-Cache-Status"])
    time.sleep(0.3)  # the background revalidation
    assert seen <= {"HIT", "STALE", "UPDATING", "REVALIDATED"}, seen
    answered_by_app = [request_log.fields_of(record) for record in caplog.records if record.name == "ticketing.access"]
    assert {(line["path"], line["status"]) for line in answered_by_app} == {
        (f"/api/v1/matches/{match['id']}/seats", 304)}

    customer.post("/api/v1/wallet/top-ups", {"amount": 50_000}, status=201)
    customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201)
    deadline = time.monotonic() + 5
    while True:  # within a second or two (stale while updating) the changed map replaces it
        changed = seats(through_nginx, match["id"], {"If-None-Match": etag})
        if changed.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.json()["counts"]["held"] == 2
    assert seats(through_nginx, match["id"]).headers["X-Cache-Status"] in ("HIT", "UPDATING")


def test_signed_in_callers_and_drafts_never_meet_the_cache(through_nginx, staff, clean_db, caplog):
    match, *_ = published_match(staff)
    draft = staff.post("/api/v1/matches", {"stadium_id": match["stadium_id"], "home_team": "Draft", "away_team": "X",
                                           "starts_at": "2031-05-01T18:00:00Z"}, status=201).json
    auth = {"Authorization": f"Bearer {staff.token}"}
    as_staff = seats(through_nginx, draft["id"], auth)
    assert as_staff.status_code == 200 and "X-Cache-Status" not in as_staff.headers
    assert as_staff.headers["Cache-Control"] == "private, no-cache"
    # Nothing of the draft was stored: an anonymous caller gets the app's answer, a 404.
    anonymous = seats(through_nginx, draft["id"])
    assert anonymous.status_code == 404 and anonymous.headers["X-Cache-Status"] == "MISS"
    # A signed-in fan's poll of the public map goes to the app with its If-None-Match, and
    # the app answers it 304 (a cache in the way would have asked the app for the whole map).
    caplog.set_level(logging.INFO, logger="ticketing.access")
    etag = seats(through_nginx, match["id"]).headers["ETag"]
    for credentials in (auth, {"Cookie": "ticketing_session=anything"}):
        caplog.clear()
        poll = seats(through_nginx, match["id"], {**credentials, "If-None-Match": etag})
        assert poll.status_code == 304 and "X-Cache-Status" not in poll.headers
        answered = [request_log.fields_of(r) for r in caplog.records if r.name == "ticketing.access"]
        assert [(line["path"], line["status"]) for line in answered] == [
            (f"/api/v1/matches/{match['id']}/seats", 304)]


def test_made_up_arguments_cannot_bust_the_cache(through_nginx, staff, clean_db):
    match, *_ = published_match(staff)
    assert seats(through_nginx, match["id"]).headers["X-Cache-Status"] == "MISS"
    for noise in ("?x=1", "?x=2&y=3", "?_=1733560000"):
        busted = requests.get(f"{through_nginx}/api/v1/matches/{match['id']}/seats{noise}", timeout=10,
                              headers={"Host": f"made-up-{noise[-1]}.example"})
        assert busted.status_code == 200 and busted.headers["X-Cache-Status"] == "HIT", noise
    # The seat map's own filters are separate entries.
    filtered = requests.get(f"{through_nginx}/api/v1/matches/{match['id']}/seats?status=available", timeout=10)
    assert filtered.headers["X-Cache-Status"] == "MISS"


def test_every_answer_carries_its_own_request_id(through_nginx, staff, clean_db):
    """A cached answer must not carry the id of the request that filled the cache."""
    match, *_ = published_match(staff)
    for number in range(3):
        answer = seats(through_nginx, match["id"], {"X-Request-ID": f"poll-{number}"})
        assert answer.headers["X-Request-ID"] == f"poll-{number}"
    assert seats(through_nginx, match["id"], {"X-Request-ID": "not sane!"}).headers["X-Request-ID"] != "not sane!"


class StubUpstream:
    """A tiny HTTP server that answers every request with one status, and counts them.
    ``hold_joins``: a waiting room join (POST .../queue) is kept until :meth:`release`, as by
    a process that takes joins slower than nginx passes them on."""

    def __init__(self, status, keep_alive=True, hold_joins=False):
        import http.server

        stub = self
        self.count = 0
        self.joins_waiting = 0
        self._lock = threading.Lock()
        self._released = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                stub.count += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if hold_joins and self.command == "POST" and self.path.endswith("/queue"):
                    with stub._lock:
                        stub.joins_waiting += 1
                    stub._released.wait(30)
                body = b"{}"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if not keep_alive:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def release(self):
        self._released.set()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_shed_request_is_neither_replayed_nor_a_mark_against_its_process():
    """A process that sheds (503) keeps its share and its place in the rotation: nginx must not
    replay its GETs on the other process (doubling that one's load in a rush) nor count its
    503s as failures (max_fails) and take it out."""
    shedding, healthy = StubUpstream(503), StubUpstream(200)
    proxy = nginx.Nginx([shedding, healthy], name="nginx-shed", per_address=100)
    shedding.count = healthy.count = 0  # (nginx's start-up check asked both)
    try:
        statuses = [requests.get(f"{proxy.base}/api/v1/matches", timeout=10).status_code for _ in range(12)]
    finally:
        proxy.stop()
        shedding.close()
        healthy.close()
    assert statuses.count(503) == 6 and shedding.count == 6 and healthy.count == 6


@pytest.fixture
def stuck_one_thread(database_url):
    """The app with a 300 ms wait limit on one waitress thread, behind a stamping nginx and a
    non-stamping one."""
    app = ticketing.main({}, **app_settings(database_url, **{"ticketing.max_queue_wait_ms": "300"}))
    server, upstream = serve(app, threads=1)
    stamping = nginx.Nginx([upstream], name="nginx-stamp", per_address=100)
    unstamped = nginx.Nginx([upstream], name="nginx-nostamp", per_address=100, stamp=False)
    yield stamping.base, unstamped.base
    stamping.stop()
    unstamped.stop()
    stop(server)
    app.registry["db_engine"].dispose()


def test_load_shedding_reads_the_stamp_of_the_nginx_in_front(staff, customer, engine, stuck_one_thread):
    stamping, unstamped = stuck_one_thread
    match, *_ = published_match(staff)
    customer.post("/api/v1/wallet/top-ups", {"amount": 50_000}, status=201)
    summary = f"/api/v1/matches/{match['id']}/summary"
    with engine.connect() as locker, ThreadPoolExecutor(max_workers=3) as pool:
        transaction = locker.begin()
        # The fan's wallet row, locked: the hold (on the only thread) waits on it.
        locker.execute(text("SELECT 1 FROM wallets WHERE user_id = :u FOR UPDATE"), {"u": customer.user["id"]})
        hold = pool.submit(requests.post, f"{stamping}/api/v1/matches/{match['id']}/holds", json={"quantity": 2},
                           headers={"Authorization": f"Bearer {customer.token}"}, timeout=30)
        time.sleep(0.3)
        through_stamping = pool.submit(requests.get, stamping + summary, timeout=30)
        through_unstamped = pool.submit(requests.get, unstamped + summary, timeout=30)
        time.sleep(0.6)
        transaction.commit()
        hold, shed, served = hold.result(), through_stamping.result(), through_unstamped.result()
    assert hold.status_code == 201
    assert shed.status_code == 503 and shed.json()["type"] == "urn:ticketing:problem:service-busy"
    assert int(shed.headers["Retry-After"]) >= 1
    assert served.status_code == 200 and served.json()["held"] == 2


def test_joins_nginx_paces_past_the_opening_keep_the_random_draw(app_server, staff, user_factory, engine, clean_db):
    """nginx passes the waiting room's joins on at its pace (here 4 a second), holding the
    rest in arrival order; a fan whose join arrived before sales opened draws at random even
    when the app sees the join after the opening (X-Request-Age); one who arrived after gets
    a number. Other requests are not paced."""
    proxy = nginx.Nginx([app_server], name="nginx-joins", per_address=100, join_rate=4)
    match, *_ = published_match(staff)
    queue = f"{proxy.base}/api/v1/matches/{match['id']}/queue"
    staff.put(f"/api/v1/matches/{match['id']}/waiting-room", {"enabled": True, "mode": "fixed",
                                                              "admit_per_minute": 600}, status=200)
    fans = [user_factory() for _ in range(9)]
    with engine.begin() as conn:
        opening = conn.execute(text("UPDATE matches SET sales_open_at = now() + interval '1 second' WHERE id = :m "
                                    "RETURNING sales_open_at"), {"m": match["id"]}).scalar_one().timestamp()

    def join(fan):
        response = requests.post(queue, headers={"Authorization": f"Bearer {fan.token}"}, timeout=30)
        return response, time.time()

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            sent = time.time()
            joining = [pool.submit(join, fan) for fan in fans[:8]]
            time.sleep(0.2)
            # While nginx holds joins, the seat map is answered at once.
            seen = [requests.get(f"{proxy.base}/api/v1/matches/{match['id']}/seats", timeout=10) for _ in range(20)]
            seen_by = time.time()
            early = [future.result() for future in joining]
        late, _ = join(fans[8])
    finally:
        proxy.stop()
    assert sent < opening
    assert all(response.status_code == 201 for response, _ in early), [r.text for r, _ in early]
    # The control: nginx really held some of them past the opening (4 a second: the 8th ~1.75 s).
    assert sum(answered > opening for _, answered in early) >= 3
    assert all(response.json()["order_key"] < 1 for response, _ in early)
    assert late.status_code == 201 and late.json()["order_key"] >= 1
    assert [response.status_code for response in seen] == [200] * 20
    assert seen_by < max(answered for _, answered in early)
    with engine.connect() as conn:
        joined = conn.execute(text("SELECT max(joined_at) FROM queue_places WHERE match_id = :m AND order_key < 1"),
                              {"m": match["id"]}).scalar_one()
    assert joined.timestamp() < opening


def test_joins_beyond_what_nginx_holds_get_its_problem_json():
    """Past the pacing's burst nginx refuses a join itself, as the app would: problem+json,
    503 service-busy, Retry-After; the app's own 503s are passed on as they are."""
    upstream = StubUpstream(200)
    proxy = nginx.Nginx([upstream], name="nginx-join-burst", per_address=100, join_rate=1, join_burst=1)
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            answers = list(pool.map(lambda _: requests.post(f"{proxy.base}/api/v1/matches/1/queue", timeout=10),
                                    range(6)))
    finally:
        proxy.stop()
        upstream.close()
    refused = [answer for answer in answers if answer.status_code == 503]
    assert len(refused) >= 3 and sum(answer.status_code == 200 for answer in answers) >= 1
    for answer in refused:
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert answer.json()["type"] == "urn:ticketing:problem:service-busy" and answer.json()["status"] == 503
        assert int(answer.headers["Retry-After"]) > 0 and answer.headers["X-Request-ID"]


def test_a_process_that_cannot_answer_gets_a_problem_json_from_nginx():
    """No process answering (stopped, restarting): nginx's 502 is problem+json with a
    Retry-After, as a client handles every other error."""
    upstream = StubUpstream(200, keep_alive=False)  # no connection left open when it stops
    proxy = nginx.Nginx([upstream], name="nginx-unreachable", per_address=100)
    try:
        upstream.close()
        answer = requests.get(f"{proxy.base}/api/v1/matches", timeout=10)
    finally:
        proxy.stop()
    assert answer.status_code == 502 and answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json()["type"] == "urn:ticketing:problem:unreachable" and int(answer.headers["Retry-After"]) > 0


def _site_with_max_conns(joins, app, joins_share_the_app_upstream=False):
    """deploy/nginx.conf with small limits: ``joins`` for the joins' upstream, ``app`` for the
    app's; ``joins_share_the_app_upstream``: the control, joins routed as before 0067."""
    site = nginx.DEPLOYED.read_text()
    site, changed = re.subn(r"max_conns=300;", f"max_conns={joins};", site)
    assert changed == 2
    site, changed = re.subn(r"max_conns=900;", f"max_conns={app};", site)
    assert changed == 2
    if joins_share_the_app_upstream:
        site, changed = re.subn(r"(?m)^(\s*join\s+)ticketing_joins;", r"\g<1>ticketing_app;", site)
        assert changed == 1
    return site


@pytest.mark.parametrize("joins_share_the_app_upstream", [False, True], ids=["own-upstream", "control-shared"])
def test_joins_the_processes_cannot_take_do_not_shut_out_buyers(joins_share_the_app_upstream):
    """Joins paced faster than the processes serve them wait inside the processes, and nginx
    counts them against their own max_conns: once that many wait, the next join is refused
    at once (503 service-busy, safe to send again) while a hold still reaches the app. The
    control routes joins through the app's upstream, as before: the joins' pile takes its
    max_conns and the hold gets nginx's 502."""
    upstream = StubUpstream(200, hold_joins=True)
    proxy = nginx.Nginx([upstream], name="nginx-join-conns", per_address=100,
                        source=_site_with_max_conns(2, 2, joins_share_the_app_upstream))
    pool = ThreadPoolExecutor(max_workers=2)
    try:
        held = [pool.submit(requests.post, f"{proxy.base}/api/v1/matches/1/queue", timeout=30) for _ in range(2)]
        deadline = time.monotonic() + 10
        while upstream.joins_waiting < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert upstream.joins_waiting == 2
        join = requests.post(f"{proxy.base}/api/v1/matches/1/queue", timeout=10)
        hold = requests.post(f"{proxy.base}/api/v1/matches/1/holds", json={"quantity": 2}, timeout=10)
        upstream.release()
        assert [answer.result().status_code for answer in held] == [200, 200]
    finally:
        upstream.release()
        pool.shutdown()
        proxy.stop()
        upstream.close()
    if joins_share_the_app_upstream:
        assert hold.status_code == 502 and join.status_code == 503  # the buyer is shut out too
        return
    assert hold.status_code == 200
    assert join.status_code == 503 and join.headers["Content-Type"] == "application/problem+json"
    assert join.json()["type"] == "urn:ticketing:problem:service-busy" and int(join.headers["Retry-After"]) > 0
    assert join.headers["X-Request-ID"]
