"""The waitress server the app runs under (ticketing/server.py): every response arrives whole,
with many connections, big and streamed bodies and pipelined requests, and the event loop no
longer treats a connection whose task owns its output as writable."""
import http.client
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from waitress.adjustments import Adjustments

from ticketing.server import TaskAwareChannel, make_server

BIG = bytes(range(256)) * 32768  # 8 MiB: more than a socket buffer holds


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/big":
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BIG)))])
        return [BIG]
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


@pytest.fixture(scope="module")
def server():
    served = make_server(app, listen="127.0.0.1:0", threads=4, connection_limit=500)
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
