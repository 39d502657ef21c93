"""The load generator's HTTP client against a scripted server: every framing it must read
(Content-Length, chunked, bodiless 304, interim 1xx, gzip), keep-alive reuse, and every failure
it must report as a ClientError of the right kind rather than as a response (a reset, a
malformed or unframed response, stray bytes, a response that never comes). Each test runs on
the plain asyncio loop and on uvloop, the two loops bench/loadgen.py runs on."""
import asyncio
import gzip
import socket
import threading
import time

import pytest
import uvloop

from bench.http_client import ClientError, Origin


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request):
    """Runs a coroutine to completion on a fresh event loop of the parametrized kind."""
    factory = uvloop.new_event_loop if request.param == "uvloop" else asyncio.new_event_loop

    def run(coroutine):
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(coroutine)
    return run


class ScriptedServer:
    """Answers each request on a connection with the next scripted raw response (bytes, a list
    of bytes and pauses in seconds, None to stay silent, or "close" to drop the connection);
    records what it received."""

    def __init__(self, responses):
        self.responses = list(responses)
        self.requests = []
        self.connections = 0

    async def handle(self, reader, writer):
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                self.requests.append((head.decode("latin-1"), body))
                response = self.responses.pop(0)
                if response == "close":
                    break
                if response is None:
                    await asyncio.sleep(5)
                    break
                for part in response if isinstance(response, list) else [response]:
                    if isinstance(part, float):
                        await asyncio.sleep(part)
                    else:
                        writer.write(part)
                        await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def exchange(run, responses, calls, timeout=5.0):
    """Run ``calls(origin)`` against a server scripted with ``responses``; returns
    (what calls returned, the server)."""
    server = ScriptedServer(responses)

    async def main():
        listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        origin = Origin(f"http://127.0.0.1:{port}/api/v1", timeout=timeout)
        try:
            return await calls(origin)
        finally:
            await origin.close()
            listener.close()
            await listener.wait_closed()

    return run(main()), server


def ok(body, extra=""):
    return (f"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def test_content_length_bodies_on_one_kept_alive_connection(run):
    async def calls(origin):
        first = await origin.request("POST", "/matches/1/holds", b'{"quantity": 2}',
                                     {"Authorization": "Bearer t", "Content-Type": "application/json"})
        second = await origin.request("GET", "/matches/1/seats", None, {"If-None-Match": '"v1"'})
        return first, second

    (first, second), server = exchange(
        run,         [ok(b'{"id": 7}', 'ETag: "v2"\r\n'), b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n'], calls)
    assert first == (201, {"content-type": "application/json", "etag": '"v2"', "content-length": "9"}, b'{"id": 7}')
    assert second[0] == 304 and second[2] == b"" and second[1]["etag"] == '"v1"'
    assert server.connections == 1, "the second request must reuse the kept-alive connection"
    head, body = server.requests[0]
    assert head.startswith("POST /api/v1/matches/1/holds HTTP/1.1\r\n")
    assert "Authorization: Bearer t\r\n" in head and "Content-Length: 15\r\n" in head
    assert "Accept-Encoding: gzip\r\n" in head and body == b'{"quantity": 2}'
    assert server.requests[1][0].startswith("GET /api/v1/matches/1/seats HTTP/1.1\r\n")


def test_chunked_and_gzip_bodies_are_decoded(run):
    packed = gzip.compress(b'{"seats": [1, 2, 3]}')
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
               + f"{5:x}\r\n".encode() + packed[:5] + b"\r\n"
               + f"{len(packed) - 5:x};ext=1\r\n".encode() + packed[5:] + b"\r\n0\r\n\r\n")

    async def calls(origin):
        return [await origin.request("GET", "/a"), await origin.request("GET", "/b")]

    (first, second), server = exchange(run, [chunked, ok(b"{}")], calls)
    assert first[0] == 200 and first[2] == b'{"seats": [1, 2, 3]}'
    assert second == (201, {"content-type": "application/json", "content-length": "2"}, b"{}")
    assert server.connections == 1


@pytest.mark.parametrize("connection", ["close", "Keep-Alive, Close"])
def test_connection_close_is_honoured_with_a_new_connection(run, connection):
    async def calls(origin):
        return [await origin.request("GET", "/a"), await origin.request("GET", "/b")]

    (first, second), server = exchange(run, [ok(b"1", f"Connection: {connection}\r\n"), ok(b"2")], calls)
    assert (first[2], second[2]) == (b"1", b"2")
    assert server.connections == 2


@pytest.mark.parametrize("response, kind, message", [
    ("close", "reset", "connection lost"),
    (b"garbage\r\n\r\n", "malformed", "not an HTTP/1.x status line"),
    (b"HTTP/1.1 +20 OK\r\nContent-Length: 0\r\n\r\n", "malformed", "not an HTTP/1.x status line"),
    (b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", "malformed", "not an HTTP/1.x status line"),
    (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until close", "malformed", "without Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc", "malformed", "bad gzip body"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc", "malformed", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1_0\r\n\r\n0123456789", "malformed", "bad Content-Length"),
    # A superscript two: str.isdigit() says yes, int() and every HTTP parser say no.
    (b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\nab", "malformed", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "malformed",
     "conflicting Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nx\r\n0\r\n\r\n", "malformed", "bad chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n", "malformed", "bad chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n", "malformed",
     "not followed by CRLF"),
])
def test_failures_raise_client_error_and_the_connection_is_not_reused(run, response, kind, message):
    async def calls(origin):
        with pytest.raises(ClientError, match=message) as failure:
            await origin.request("GET", "/a")
        assert failure.value.kind == kind
        return await origin.request("GET", "/b")

    after, server = exchange(run, [response, ok(b"fine")], calls)
    assert after[2] == b"fine" and server.connections == 2


def test_no_response_in_time_is_a_client_error(run):
    async def calls(origin):
        with pytest.raises(ClientError, match="no response in time") as failure:
            await origin.request("GET", "/slow")
        assert failure.value.kind == "timeout"
        return "timed out"

    result, _ = exchange(run, [None], calls, timeout=0.2)
    assert result == "timed out"


def test_refused_connection_is_a_client_error(run):
    async def main():
        listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        listener.close()
        await listener.wait_closed()
        with pytest.raises(ClientError, match="cannot connect") as failure:
            await Origin(f"http://127.0.0.1:{port}").request("GET", "/")
        assert failure.value.kind == "refused"

    run(main())


def test_interim_1xx_responses_are_skipped_for_the_final_one(run):
    async def calls(origin):
        return [await origin.request("POST", "/a", b"{}"), await origin.request("GET", "/b")]

    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
    (first, second), server = exchange(run, [[interim, 0.02, ok(b"final")], ok(b"next")], calls)
    assert (first[0], first[2]) == (201, b"final") and second[2] == b"next"
    assert server.connections == 1


def test_stray_bytes_on_an_idle_connection_are_not_read_as_the_next_response(run):
    stray = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray"

    async def calls(origin):
        first = await origin.request("GET", "/a")
        await asyncio.sleep(0.1)  # the stray response arrives while the connection is idle
        return first, await origin.request("GET", "/b")

    (first, second), server = exchange(run, [[ok(b"1"), 0.02, stray], ok(b"2")], calls)
    assert (first[2], second[2]) == (b"1", b"2")
    assert server.connections == 2, "the connection that sent stray bytes must not be reused"


def test_gzip_header_on_an_empty_body_is_an_empty_body(run):
    async def calls(origin):
        return await origin.request("GET", "/a")

    response, _ = exchange(run, [b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n"], calls)
    assert response[0] == 200 and response[2] == b""


def test_close_while_a_connection_is_being_opened_closes_it(run):
    async def calls(origin):
        pending = asyncio.ensure_future(origin.request("GET", "/a"))
        await asyncio.sleep(0)  # the request is now waiting for its connection
        await origin.close()
        with pytest.raises(ClientError, match="closed while connecting") as failure:
            await pending
        assert failure.value.kind == "reset" and not origin._open
        return "closed"

    result, _ = exchange(run, [ok(b"never sent")], calls)
    assert result == "closed"


def test_head_is_refused_rather_than_misframed(run):
    async def calls(origin):
        with pytest.raises(ValueError, match="HEAD"):
            await origin.request("HEAD", "/a")
        return "refused"

    assert exchange(run, [], calls)[0] == "refused"


class ClosingServer:
    """A plain socket server on its own thread that accepts each connection and closes it at
    once (with a FIN, or with an RST if ``reset``), as a server does whose accept queue
    overflowed or that is shutting down: the client sees a connection that succeeds and then is
    gone before (or just after) its request, or, with an RST, one that fails while connecting."""

    def __init__(self, reset):
        self.reset = reset
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)  # accept() wakes up to see stop()
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            if self.reset:  # an RST instead of a FIN
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            connection.close()

    def stop(self):
        self.stopping.set()
        self.thread.join(5)
        self.listener.close()


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_a_connection_closed_by_the_server_is_a_reset_not_a_timeout(run, reset):
    """Whether the close lands while connecting, before the request is written or after, the
    answer is a prompt ClientError("reset"): never a wait for the whole timeout, never a
    RuntimeError from uvloop."""
    server = ClosingServer(reset)

    async def main():
        origin = Origin(f"http://127.0.0.1:{server.port}", timeout=10.0)
        kinds, started = [], time.monotonic()
        try:
            for _ in range(20):
                with pytest.raises(ClientError) as failure:
                    await origin.request("GET", "/")
                kinds.append(failure.value.kind)
        finally:
            await origin.close()
        return kinds, time.monotonic() - started

    try:
        kinds, elapsed = run(main())
    finally:
        server.stop()
    assert kinds == ["reset"] * 20
    assert elapsed < 5.0, "a reset must be reported at once, not after the timeout"


def test_a_connection_lost_before_sending_refuses_the_write(run):
    """The path above that timing rarely takes on loopback, pinned: the connection is known
    to be lost before the request is written."""
    server = ClosingServer(reset=False)

    async def main():
        origin = Origin(f"http://127.0.0.1:{server.port}", timeout=10.0)
        loop = asyncio.get_running_loop()
        connection = await origin._connection(loop.time() + 5)
        await asyncio.wait_for(connection.lost, 5)
        origin._idle.append(connection)  # the pool would skip it; send() must refuse it too
        with pytest.raises(ClientError, match="before the request was sent") as failure:
            connection.send(b"GET / HTTP/1.1\r\n\r\n")
        await origin.close()
        return failure.value.kind

    try:
        assert run(main()) == "reset"
    finally:
        server.stop()
