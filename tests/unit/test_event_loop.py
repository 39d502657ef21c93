"""The server's event loop (ticketing/server.py, RushLoop, decision 0031): keep-alive
connections between requests stay registered with the kernel and are not asked anything
until they speak, and yet each one is answered when it does, times out when idle too long,
and a descriptor a closed connection leaves behind serves the next connection given it."""
import http.client
import socket
import threading
import time

import pytest

from ticketing.server import TaskAwareChannel, make_server


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

    def start_server(**settings):
        served = make_server(app, listen="127.0.0.1:0", threads=2, **settings)
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
    wait_for(lambda: len(served.asyncore.restless) == 2)  # the listener and the trigger
    _after_two_turns(served)
    assert served.asyncore.restless.isdisjoint(channel._fileno for channel in served._map.values()
                                               if isinstance(channel, TaskAwareChannel))
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
