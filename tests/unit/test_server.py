"""The waitress server the app runs under (ticketing/server.py): every response arrives whole,
with many connections, big and streamed bodies and pipelined requests, and the event loop no
longer treats a connection whose task owns its output as writable."""
import http.client
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from waitress.adjustments import Adjustments

from ticketing.server import QUEUED_AT, TaskAwareChannel, make_server

BIG = bytes(range(256)) * 32768  # 8 MiB: more than a socket buffer holds


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/big":
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BIG)))])
        return [BIG]
    if path == "/bigstream":  # several writes, each far above a small high watermark
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(4 * len(BIG)))])
        return iter([BIG] * 4)
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def chunks():
            for i in range(3):
                yield f"chunk {i}\n".encode()
                time.sleep(0.02)

        return chunks()
    body = ("x" * 600 + path).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture(scope="module", params=["epoll", "poll"])
def server(request):
    served = make_server(app, listen="127.0.0.1:0", threads=4, connection_limit=500)
    served.asyncore.use_epoll = request.param == "epoll"  # the loop makes its poller on start
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    yield served
    served.close()
    served.task_dispatcher.shutdown(timeout=5)


def test_every_listening_socket_makes_task_aware_channels(server):
    assert server.channel_class is TaskAwareChannel


def _fetch_many(port, paths):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    bodies = []
    for path in paths:
        connection.request("GET", path)
        response = connection.getresponse()
        bodies.append((path, response.status, response.read()))
    connection.close()
    return bodies


def test_many_keep_alive_connections_get_every_byte(server):
    port = server.effective_port
    plans = [[f"/small/{i}/{j}" if (i + j) % 5 else ("/big" if i % 2 else "/stream") for j in range(6)]
             for i in range(120)]
    with ThreadPoolExecutor(max_workers=120) as pool:
        results = list(pool.map(lambda plan: _fetch_many(port, plan), plans))
    for plan, bodies in zip(plans, results):
        assert [path for path, _, _ in bodies] == plan
        for path, status, body in bodies:
            assert status == 200
            if path == "/big":
                assert body == BIG
            elif path == "/stream":
                assert body == b"chunk 0\nchunk 1\nchunk 2\n"
            else:
                assert body == ("x" * 600 + path).encode()


def test_pipelined_requests_are_answered_in_order(server):
    with socket.create_connection(("127.0.0.1", server.effective_port), timeout=10) as sock:
        sock.sendall(b"GET /one HTTP/1.1\r\nHost: t\r\n\r\nGET /two HTTP/1.1\r\nHost: t\r\n\r\n"
                     b"GET /three HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK") == 3
    assert received.index(b"x/one") < received.index(b"x/two") < received.index(b"x/three")


def test_long_pipelines_never_wait_for_the_loops_timeout(server):
    """Each pipelined request parks its connection again; its own task must unpark it and
    the loop must hear of it, or every request would wait up to the loop's 1 s timeout."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.effective_port), timeout=10) as sock:
        sock.sendall(b"".join(f"GET /p{i} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for i in range(40))
                     + b"GET /last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK") == 41
    assert time.monotonic() - started < 5


class _State(TaskAwareChannel):
    """A channel's writability without a socket: only the attributes writable() reads."""

    def __init__(self, requests, outbuf, will_close=False, close_when_flushed=False):
        self.requests = requests
        self.total_outbufs_len = outbuf
        self.will_close = will_close
        self.close_when_flushed = close_when_flushed
        self.adj = Adjustments()


def test_writable_only_when_the_loop_can_act():
    running = [object()]
    # A task owns the connection and flushes its own output: the loop must not spin on it.
    assert not _State(running, 666).writable()
    # No task: leftover output is the loop's to send.
    assert _State([], 666).writable()
    # A task waiting for the loop to drain output above the high watermark.
    assert _State(running, Adjustments().outbuf_high_watermark + 1).writable()
    # Closing connections are always the loop's business.
    assert _State(running, 0, will_close=True).writable()
    assert _State(running, 10, close_when_flushed=True).writable()
    assert not _State([], 0).writable()


def test_more_than_a_thousand_connections_do_not_stop_the_server():
    """select() cannot watch a descriptor above 1023 (its loop died with ValueError and the
    process stopped answering anyone); the server polls instead (decision 0025)."""
    served = make_server(app, listen="127.0.0.1:0", threads=2, connection_limit=2000)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    idle = []
    try:
        for _ in range(1100):
            idle.append(socket.create_connection(("127.0.0.1", served.effective_port), timeout=10))
        last = idle[-1]
        last.sendall(b"GET /after-1100 HTTP/1.1\r\nHost: test\r\n\r\n")
        received = b""
        while b"/after-1100" not in received:
            chunk = last.recv(65536)
            assert chunk, "the server closed the connection"
            received += chunk
        assert received.startswith(b"HTTP/1.1 200 OK")
        assert thread.is_alive()
    finally:
        for connection in idle:
            connection.close()
        served.close()
        served.task_dispatcher.shutdown(timeout=5)


def test_the_environ_says_when_the_request_was_queued_for_a_thread():
    """One thread, busy with a slow request: the next request's stamp is from when it queued,
    so the app sees how long it waited (ticketing/load_shedding.py)."""
    release = threading.Event()
    seen = {}

    def timed(environ, start_response):
        seen[environ["PATH_INFO"]] = time.monotonic() - environ[QUEUED_AT]
        if environ["PATH_INFO"] == "/slow":
            release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    served = make_server(timed, listen="127.0.0.1:0", threads=1)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    try:
        port = served.effective_port
        with ThreadPoolExecutor(max_workers=2) as pool:
            slow = pool.submit(_fetch_many, port, ["/slow"])
            wait_for(lambda: "/slow" in seen)
            queued = pool.submit(_fetch_many, port, ["/queued"])
            wait_for(lambda: len(served.task_dispatcher.queue) == 1)
            time.sleep(0.5)
            release.set()
            assert slow.result()[0][1] == 200 and queued.result()[0][1] == 200
        assert seen["/queued"] >= 0.5
        assert seen["/slow"] < 0.5
    finally:
        served.close()
        served.task_dispatcher.shutdown(timeout=5)


def wait_for(condition, timeout=15):
    """Poll ``condition`` until it holds: ordering tests wait on the server's own state,
    not on sleeps, so a loaded machine slows them down instead of failing them."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the server"
        time.sleep(0.005)


@pytest.fixture
def one_thread():
    """A server with one thread and a request that holds it until ``release`` is set;
    ``started`` is set once that request has the thread."""
    release, started = threading.Event(), threading.Event()
    served_order = []

    def gated(environ, start_response):
        if environ["PATH_INFO"] == "/slow":
            started.set()
            release.wait(30)
        served_order.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        body = b"ok"
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    served = make_server(gated, listen="127.0.0.1:0", threads=1)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    served.started = started
    yield served, release, served_order
    release.set()
    served.close()
    served.task_dispatcher.shutdown(timeout=5)


def _send(port, method, path, credentials=True):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    headers = {"Authorization": "Bearer some-token"} if credentials else {}
    connection.request(method, path, body=b"{}" if method == "POST" else None, headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status


def test_requests_that_finish_work_are_served_before_new_work_in_arrival_order(one_thread):
    served, release, served_order = one_thread
    port = served.effective_port
    plan = [("GET", "/api/v1/matches", True), ("POST", "/api/v1/holds/5/checkout", True),
            ("POST", "/api/v1/matches/3/holds", True), ("POST", "/api/v1/holds/7/checkout", False),
            ("DELETE", "/api/v1/holds/9", True), ("POST", "//api/v1/holds/6/checkout", True)]
    with ThreadPoolExecutor(max_workers=len(plan) + 1) as pool:
        slow = pool.submit(_send, port, "GET", "/slow")
        wait_for(served.started.is_set)
        queued = []
        for method, path, credentials in plan:  # one at a time, so the queue's order is the plan's
            queued.append(pool.submit(_send, port, method, path, credentials))
            wait_for(lambda: len(served.task_dispatcher.queue) == len(queued))
        release.set()
        assert slow.result() == 200 and [f.result() for f in queued] == [200] * len(plan)
    # Finishing work first, in arrival order; a checkout without credentials waits its turn.
    assert served_order == ["GET /slow", "POST /api/v1/holds/5/checkout", "DELETE /api/v1/holds/9",
                            "POST /api/v1/holds/6/checkout", "GET /api/v1/matches", "POST /api/v1/matches/3/holds",
                            "POST /api/v1/holds/7/checkout"]


def test_the_lane_for_finishing_work_is_bounded(one_thread):
    served, release, served_order = one_thread
    port = served.effective_port
    lane = served.task_dispatcher.lane_limit
    assert lane == 4  # one thread
    with ThreadPoolExecutor(max_workers=lane + 4) as pool:
        slow = pool.submit(_send, port, "GET", "/slow")
        wait_for(served.started.is_set)
        queued = [pool.submit(_send, port, "GET", "/api/v1/matches")]
        wait_for(lambda: len(served.task_dispatcher.queue) == 1)
        for i in range(lane + 2):
            queued.append(pool.submit(_send, port, "POST", f"/api/v1/holds/{i}/checkout"))
            wait_for(lambda: len(served.task_dispatcher.queue) == len(queued))
        release.set()
        assert slow.result() == 200 and {f.result() for f in queued} == {200}
    # The first four went ahead; the rest queued behind the read like any new work.
    assert served_order[1:] == [f"POST /api/v1/holds/{i}/checkout" for i in range(lane)] + [
        "GET /api/v1/matches"] + [f"POST /api/v1/holds/{i}/checkout" for i in range(lane, lane + 2)]


@pytest.mark.parametrize("raw", [
    b"GET /a HTTP/1.1\r\nbadheader\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nbadheader\r\n\r\n",
])
def test_a_request_waitress_cannot_parse_gets_its_400_and_leaves_nothing_behind(one_thread, raw):
    """Such a request has no method or path: deciding its place in the queue must not fail
    (it did: the connection was dropped, or, pipelined, left open and never served)."""
    served, release, _ = one_thread
    release.set()
    connections_before = len(served._map)
    client = socket.create_connection(("127.0.0.1", served.effective_port), timeout=10)
    client.sendall(raw)
    received = b""
    while True:
        chunk = client.recv(65536)
        if not chunk:
            break
        received += chunk
    client.close()
    assert b" 400 Bad Request\r\n" in received and b"Invalid header" in received
    deadline = time.monotonic() + 5
    while len(served._map) > connections_before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(served._map) == connections_before and served.task_dispatcher.parked == set()


def test_a_connection_is_parked_while_its_request_waits_or_runs(one_thread):
    served, release, _ = one_thread
    port = served.effective_port
    parked = served.task_dispatcher.parked
    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = pool.submit(_send, port, "GET", "/slow")
        wait_for(served.started.is_set)
        queued = pool.submit(_send, port, "GET", "/queued")
        wait_for(lambda: len(served.task_dispatcher.queue) == 1)
        assert len(parked) == 2  # one running, one queued: the loop does not look at either
        release.set()
        assert slow.result() == 200 and queued.result() == 200
    deadline = time.monotonic() + 5
    while parked and time.monotonic() < deadline:
        time.sleep(0.01)
    assert parked == set()


def test_a_client_gone_while_parked_does_not_leave_its_descriptor_parked(one_thread):
    served, release, _ = one_thread
    port = served.effective_port
    gone = socket.create_connection(("127.0.0.1", port))
    gone.sendall(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
    wait_for(served.started.is_set)
    gone.close()
    release.set()
    # New connections may get the closed one's descriptor: each is answered.
    with ThreadPoolExecutor(max_workers=20) as pool:
        assert list(pool.map(lambda i: _send(port, "GET", f"/after/{i}"), range(40))) == [200] * 40
    assert served.task_dispatcher.parked == set()


def test_a_body_above_the_high_watermark_is_drained_by_the_loop_while_the_task_waits():
    """The task writing it waits for the loop to send (waitress's high watermark): its
    connection must be unparked first, or neither would ever move."""
    served = make_server(app, listen="127.0.0.1:0", threads=2, outbuf_high_watermark=65536)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(lambda _: _fetch_many(served.effective_port, ["/bigstream", "/small/after"]),
                                     range(6)))
        for bodies in results:
            assert bodies[0] == ("/bigstream", 200, BIG * 4)
            assert bodies[1] == ("/small/after", 200, ("x" * 600 + "/small/after").encode())
    finally:
        served.close()
        served.task_dispatcher.shutdown(timeout=5)


def test_a_closed_connection_is_never_parked(one_thread):
    """A task thread may queue a pipelined request while the loop closes the connection: the
    park and the close are ordered by a lock, so the closed descriptor (which the next
    connection may reuse) is never left parked."""
    served, release, _ = one_thread
    release.set()
    dispatcher = served.task_dispatcher
    client = socket.create_connection(("127.0.0.1", served.effective_port), timeout=10)
    try:
        wait_for(lambda: any(isinstance(c, TaskAwareChannel) for c in list(served._map.values())))
        (channel,) = [c for c in list(served._map.values()) if isinstance(c, TaskAwareChannel)]
        fileno = channel._fileno
        dispatcher.park_channel(channel)
        assert fileno in dispatcher.parked  # open: parked
        channel.close()  # what the loop does when the client goes (del_channel, then the socket)
        assert fileno not in dispatcher.parked
        dispatcher.park_channel(channel)  # the task thread, a moment too late
        channel._fileno = fileno  # even if it read the descriptor before the close
        dispatcher.park_channel(channel)
        assert dispatcher.parked == set()
    finally:
        client.close()


def test_keep_alive_requests_never_wait_for_the_loops_timeout(server):
    """Each response must wake the loop for the connection's next request: a missed wake-up
    costs up to a whole loop timeout (1 s) per request, which 100 requests in a row show
    (~14 s with the wake-up removed, ~0.1 s here)."""
    started = time.monotonic()
    bodies = _fetch_many(server.effective_port, [f"/next/{i}" for i in range(100)])
    assert [status for _, status, _ in bodies] == [200] * 100
    assert time.monotonic() - started < 5


def test_serving_starts_with_the_startup_heap_frozen(monkeypatch):
    """serve() collects and freezes what start-up loaded just before the loop runs, so full
    collections under load do not walk it (decision 0027). A garbage cycle made before then
    is collected, not frozen."""
    import gc

    import ticketing.server

    class Cycle:
        pass

    seen = {}

    class StubServer:
        def print_listen(self, text):
            pass

        def run(self):
            seen["frozen"] = gc.get_freeze_count()
            seen["cycle_freed"] = probe() is None

    import weakref

    garbage = Cycle()
    garbage.self = garbage  # unreachable once dropped: only a collection frees it
    probe = weakref.ref(garbage)
    del garbage
    monkeypatch.setattr(ticketing.server, "make_server", lambda app, **settings: StubServer())
    gc.unfreeze()
    try:
        ticketing.server.serve(app)
        assert seen["cycle_freed"]
        # This process has imported the app, waitress, SQLAlchemy and the rest: far more than
        # ten thousand tracked objects, all now in the permanent generation.
        assert seen["frozen"] > 10_000
    finally:
        gc.unfreeze()


class _StubServer:
    """What serve() needs of a server, recording the GIL's switch interval it ran with."""

    def __init__(self, seen):
        self.seen = seen

    def print_listen(self, text):
        pass

    def run(self):
        self.seen["interval"] = sys.getswitchinterval()


@pytest.mark.parametrize("settings, expected", [({}, 0.02), ({"gil_switch_interval_ms": "7.5"}, 0.0075)])
def test_serving_sets_the_gil_switch_interval(monkeypatch, settings, expected):
    """serve() runs the server with the configured switch interval, 20 ms when none is set
    (decision 0032), and waitress never sees the setting (it refuses unknown ones)."""
    import ticketing.server

    seen, given = {}, {}

    def make(app, **server_settings):
        given.update(server_settings)
        return _StubServer(seen)

    monkeypatch.setattr(ticketing.server, "make_server", make)
    monkeypatch.setattr(ticketing.server, "freeze_startup_heap", lambda: None)
    before = sys.getswitchinterval()
    try:
        ticketing.server.serve(app, threads="4", **settings)
        assert seen["interval"] == pytest.approx(expected)
        assert given == {"threads": "4"}
    finally:
        sys.setswitchinterval(before)


@pytest.mark.parametrize("value", ["fast", "0", "-5", "5000", ""])
def test_a_gil_switch_interval_out_of_range_is_refused_before_serving(monkeypatch, value):
    import ticketing.server

    monkeypatch.setattr(ticketing.server, "make_server", lambda app, **settings: pytest.fail("served"))
    before = sys.getswitchinterval()
    with pytest.raises(ValueError, match="gil_switch_interval_ms"):
        ticketing.server.serve(app, gil_switch_interval_ms=value)
    assert sys.getswitchinterval() == before


def test_production_ini_server_settings_are_all_understood():
    """pserve hands [server:main] to ticketing's server: after it takes its own setting out,
    waitress accepts every remaining one."""
    import pathlib

    import plaster

    from ticketing.server import gil_switch_interval

    ini = pathlib.Path(__file__).resolve().parents[2] / "production.ini"
    settings = dict(plaster.get_loader(str(ini), protocols=["wsgi"]).get_settings("server:main"))
    settings.pop("use")
    assert gil_switch_interval(settings) == pytest.approx(0.02)
    Adjustments(**settings)  # raises on a setting waitress does not know
