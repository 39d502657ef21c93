"""The server's event loop (ticketing/server.py, RushLoop, decision 0031): keep-alive
connections between requests stay registered with the kernel and are not asked anything
until they speak, and yet each one is answered when it does, times out when idle too long,
and a descriptor a closed connection leaves behind serves the next connection given it."""
import http.client
import select
import socket
import threading
import time

import pytest

from ticketing.server import RushLoop, TaskAwareChannel, make_server


def app(environ, start_response):
    body = environ["PATH_INFO"].encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def wait_for(condition, timeout=15):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the server"
        time.sleep(0.01)


@pytest.fixture(params=["epoll", "poll"])
def start(request):
    """Start a server with the given waitress settings on the parametrised poller."""
    started = []

    def start_server(wsgi_app=app, **settings):
        served = make_server(wsgi_app, **{"listen": "127.0.0.1:0", "threads": 2, **settings})
        served.asyncore.use_epoll = request.param == "epoll"
        threading.Thread(target=served.run, daemon=True).start()
        started.append(served)
        return served

    yield start_server
    for served in started:
        served.close()
        served.task_dispatcher.shutdown(timeout=5)


def _after_two_turns(served):
    """Return once the loop has finished two turns from now: whatever was touched before has
    been looked at (a trigger's callbacks run inside a turn, after its flags were computed)."""
    for _ in range(2):
        turned = threading.Event()
        served.trigger.pull_trigger(turned.set)
        assert turned.wait(10)


def _get(connection, path):
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read()


def test_idle_keep_alive_connections_are_not_asked_anything_while_others_are_served(start, monkeypatch):
    served = start()
    idle = [http.client.HTTPConnection("127.0.0.1", served.effective_port, timeout=10) for _ in range(50)]
    for number, connection in enumerate(idle):
        assert _get(connection, f"/first/{number}") == (200, f"/first/{number}".encode())
    idle_channels = {id(channel) for channel in served._map.values() if isinstance(channel, TaskAwareChannel)}
    assert len(idle_channels) == 50
    idle_fds = {channel._fileno for channel in served._map.values() if isinstance(channel, TaskAwareChannel)}
    loop = served.asyncore

    def all_idle():
        # A task unparks its connection after the client has its response: wait for every
        # one to be unparked, looked at and left registered for reading only.
        return (not served.task_dispatcher.parked and len(loop.restless) == 2  # listener, trigger
                and all(loop.poller.held.get(fd, (None, 0))[1] == select.POLLIN | select.POLLPRI
                        for fd in idle_fds))

    wait_for(all_idle)
    _after_two_turns(served)
    assert all_idle()
    asked = []
    for name in ("readable", "writable"):
        original = getattr(TaskAwareChannel, name)

        def counting(self, original=original):
            asked.append(id(self))
            return original(self)

        monkeypatch.setattr(TaskAwareChannel, name, counting)
    busy = http.client.HTTPConnection("127.0.0.1", served.effective_port, timeout=10)
    for number in range(100):  # every request is several turns of the loop
        assert _get(busy, f"/busy/{number}") == (200, f"/busy/{number}".encode())
    busy.close()
    assert asked, "the busy connection was asked: the count works"
    assert idle_channels.isdisjoint(asked)
    # Spoken to again, each idle connection is answered at once.
    for number, connection in enumerate(idle):
        assert _get(connection, f"/again/{number}") == (200, f"/again/{number}".encode())
        connection.close()


def test_idle_connections_are_still_closed_after_the_channel_timeout(start):
    served = start(channel_timeout=1, cleanup_interval=1)
    sock = socket.create_connection(("127.0.0.1", served.effective_port), timeout=15)
    sock.sendall(b"GET /once HTTP/1.1\r\nHost: test\r\n\r\n")
    received = b""
    while not received.endswith(b"/once"):
        chunk = sock.recv(4096)
        assert chunk
        received += chunk
    started = time.monotonic()
    assert sock.recv(4096) == b"", "the server closes the idle connection"
    assert time.monotonic() - started < 10
    sock.close()


def test_a_descriptor_left_by_a_closed_connection_serves_the_next_one(start, monkeypatch):
    descriptors = []
    original = TaskAwareChannel.add_channel

    def recording(self, map=None):
        original(self, map)
        descriptors.append(self._fileno)

    monkeypatch.setattr(TaskAwareChannel, "add_channel", recording)
    served = start()
    keep = http.client.HTTPConnection("127.0.0.1", served.effective_port, timeout=10)
    assert _get(keep, "/kept")[0] == 200
    for number in range(150):
        connection = http.client.HTTPConnection("127.0.0.1", served.effective_port, timeout=10)
        assert _get(connection, f"/short/{number}") == (200, f"/short/{number}".encode())
        connection.close()
        if number % 3 == 0:  # sometimes the next one comes before the server saw the close
            continue
        wait_for(lambda: len(served._map) == 3)  # listener, trigger, the kept connection
    assert len(set(descriptors)) < len(descriptors) / 2, "descriptors were reused"
    assert _get(keep, "/kept-again") == (200, b"/kept-again")
    keep.close()


def test_every_listening_address_is_served(start):
    """With several addresses waitress makes one listener each, beside the server object:
    their connections must report to the same loop."""
    served = start(listen="127.0.0.1:0 127.0.0.1:0")
    ports = [port for _, port in served.effective_listen]
    assert len(set(ports)) == 2
    for port in ports:
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(3)]
        for number, connection in enumerate(connections):
            assert _get(connection, f"/{port}/{number}") == (200, f"/{port}/{number}".encode())
        time.sleep(0.2)  # idle between requests, as a fan's browser
        for number, connection in enumerate(connections):
            assert _get(connection, f"/{port}/again/{number}") == (200, f"/{port}/again/{number}".encode())
            connection.close()


def test_a_connection_whose_request_runs_is_not_read_further(start):
    """Once its request is queued, a connection is dropped from the kernel's set: what its
    client sends next stays in the socket until the task is done (waitress reads no further
    request while one is pending), even when it had been idle, registered for reading."""
    release, started = threading.Event(), threading.Event()

    def gated(environ, start_response):
        if environ["PATH_INFO"] == "/slow":
            started.set()
            release.wait(30)
        return app(environ, start_response)

    served = start(gated, threads=1)
    sock = socket.create_connection(("127.0.0.1", served.effective_port), timeout=15)
    try:
        sock.sendall(b"GET /warm HTTP/1.1\r\nHost: test\r\n\r\n")
        received = b""
        while not received.endswith(b"/warm"):
            received += sock.recv(4096)
        _after_two_turns(served)  # idle now: registered for reading, not asked
        (channel,) = [c for c in served._map.values() if isinstance(c, TaskAwareChannel)]
        assert channel._fileno in served.asyncore.poller.held
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
        assert started.wait(10)
        _after_two_turns(served)
        sock.sendall(b"GET /next HTTP/1.1\r\nHost: test\r\n\r\n")
        _after_two_turns(served)
        assert channel._fileno not in served.asyncore.poller.held
        assert len(channel.requests) == 1, "the next request was read while /slow ran"
        release.set()
        received = b""
        while not received.endswith(b"/next"):
            chunk = sock.recv(4096)
            assert chunk
            received += chunk
        assert received.count(b"HTTP/1.1 200 OK") == 2
    finally:
        release.set()
        sock.close()


class _ClosesWhenAsked:
    """A channel closed by another thread between the loop's questions and its
    registration (a task closing a connection its client reset)."""

    accepting = False

    def __init__(self, sock):
        self.sock = sock

    def readable(self):
        self.sock.close()
        return True

    def writable(self):
        return False


def test_a_descriptor_closed_while_the_loop_asks_it_does_not_stop_the_loop():
    ours, theirs = socket.socketpair()
    fd = ours.fileno()
    loop = RushLoop(set(), use_epoll=True)
    try:
        loop.loop(0.0, use_poll=True, map={fd: _ClosesWhenAsked(ours)}, count=1)  # epoll refuses fd
        assert fd not in loop.poller.held
    finally:
        theirs.close()
