"""The load generator's HTTP/1.1 client: keep-alive connections on a bare asyncio Protocol.

The issue's targets count the load generator's CPU against the same two cores as the app and
the database, so the client must cost as little per request as it can while still doing what a
real client does: send the request, read every byte of the response, parse its status line and
headers, frame the body by Content-Length (or chunked transfer coding, which nginx may use) and,
as a browser would, accept gzip (deploy/nginx.conf compresses JSON) and inflate what comes so.
aiohttp did that in ~0.33 ms of CPU per request here, most of it in machinery this client does
not need (cookie jars, redirects, multidict headers, a task per timeout); this module does it
in a fraction (bench/results/profile.md, round 9).

One connection carries one request at a time: a buyer coroutine takes an idle connection of its
origin (or opens one), sends, awaits the response and puts the connection back unless the server
said ``Connection: close``, the connection broke or sent bytes nobody asked for. Nothing is
pipelined; HEAD is not supported (its response would declare a body it does not carry), and
interim 1xx responses are skipped. Every failure raises :class:`ClientError` with a ``kind`` the
scenarios record (``refused``, ``reset``, ``malformed``, ``timeout``: ``timeout`` bounds connecting
and answering together), never counted as a success.
"""
import asyncio
import json
import zlib
from urllib.parse import urlsplit


class ClientError(Exception):
    """The request got no complete, well-formed response; ``kind`` says which way it failed."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def _malformed(message):
    return ClientError("malformed", message)


class _Connection(asyncio.Protocol):
    """One keep-alive connection; parses one response at a time out of what arrives."""

    def __init__(self):
        self.transport = None
        self.buffer = bytearray()
        self.waiter = None
        self.reusable = True
        self.lost = asyncio.get_running_loop().create_future()

    # --- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            # Bytes on a connection with no request in flight (a stray or late response)
            # would be read as the answer to the next request: drop the connection instead.
            self.reusable = False
            self.transport.close()
            return
        try:
            response = self._parse()
        except ClientError as error:
            self.reusable = False
            self.waiter.set_exception(error)
            return
        if response is not None:
            self.waiter.set_result(response)

    def connection_lost(self, exc):
        self.reusable = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(
                ClientError("reset", f"connection lost: {exc or 'closed by the server'}"))
        if not self.lost.done():
            self.lost.set_result(None)

    # --- one exchange -----------------------------------------------------------------------
    def send(self, request):
        """Write ``request`` (bytes); returns the future of (status, headers, body)."""
        if self.lost.done() or self.transport.is_closing():
            # The server closed a fresh connection before anything was written (its accept
            # queue overflowed, or it is shutting down): asyncio would drop the write silently
            # and wait out the timeout, uvloop would raise RuntimeError; both are a reset.
            raise ClientError("reset", "connection closed by the server before the request was sent")
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            self.transport.write(request)
        except (RuntimeError, OSError) as error:
            raise ClientError("reset", f"cannot send the request: {error!r}") from None
        return self.waiter

    def _parse(self):
        """The final response at the head of the buffer, removed from it, or None if incomplete.
        Interim 1xx responses (100 Continue, 103 Early Hints) are dropped on the way."""
        while True:
            response = self._parse_one()
            if response is None or response[0] >= 200:
                return response

    def _parse_one(self):
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        # Three ASCII digits, as RFC 9112 says: int() would also take "+20" or Unicode digits.
        if (not version.startswith("HTTP/1.") or len(code) != 3 or not _digits(code)
                or code[0] == "0" or rest[3:4] not in ("", " ")):
            raise _malformed(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        status = int(code)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length" and headers.get(name, value) != value:
                # Two lengths for one body: whichever we chose, the framing could be wrong.
                raise _malformed(f"conflicting Content-Length headers: {headers[name]!r}, {value!r}")
            headers[name] = value
        start = end + 4
        if status == 304 or status == 204 or 100 <= status < 200:
            body, consumed = b"", start
        elif "chunked" in _tokens(headers.get("transfer-encoding", "")):
            parsed = _dechunk(buffer, start)
            if parsed is None:
                return None
            body, consumed = parsed
        elif "content-length" in headers:
            # ASCII digits only: int() would also take "+5", " 5", "1_0" or "٥", which no
            # server means.
            if not _digits(headers["content-length"]):
                raise _malformed(f"bad Content-Length: {headers['content-length']!r}")
            length = int(headers["content-length"])
            if len(buffer) < start + length:
                return None
            body, consumed = bytes(buffer[start:start + length]), start + length
        else:
            # Body up to the connection's close (HTTP/1.0 style): not something the app or
            # nginx sends; refused rather than guessed at.
            raise _malformed("response without Content-Length or chunked coding")
        del buffer[:consumed]
        if body and headers.get("content-encoding", "").lower() == "gzip":
            try:
                body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
            except zlib.error as error:
                raise _malformed(f"bad gzip body: {error}") from None
        if "close" in _tokens(headers.get("connection", "")) or version == "HTTP/1.0":
            self.reusable = False
        return status, headers, body


def _digits(text):
    return text.isascii() and text.isdigit()


def _tokens(value):
    """The lower-cased members of a comma-separated header value (``keep-alive, close``)."""
    return {token.strip().lower() for token in value.split(",")}


_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


def _dechunk(buffer, start):
    """(body, bytes consumed) of a complete chunked body starting at ``start``, else None."""
    parts, position = [], start
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size_text = bytes(buffer[position:line_end]).split(b";", 1)[0].rstrip(b" \t")
        # Hex digits only: int(x, 16) would also take "-1", "+a" or "0x1f".
        if not size_text or not _HEX_DIGITS.issuperset(size_text):
            raise _malformed(f"bad chunk size: {size_text[:20]!r}")
        size = int(size_text, 16)
        position = line_end + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n\r\n", position - 2)
            if trailer_end < 0:
                return None
            return b"".join(parts), trailer_end + 4
        if len(buffer) < position + size + 2:
            return None
        if buffer[position + size:position + size + 2] != b"\r\n":
            raise _malformed("chunk data not followed by CRLF")
        parts.append(bytes(buffer[position:position + size]))
        position += size + 2


def api_request(token=None, body=None, headers=None):
    """``(body bytes or None, headers)`` of an API call: the bearer token and a JSON body."""
    send = dict(headers or {})
    if token:
        send["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        send["Content-Type"] = "application/json"
    return data, send


class Origin:
    """Keep-alive connections to one ``http://host:port`` with a path prefix."""

    def __init__(self, base_url, timeout=30.0):
        parts = urlsplit(base_url)
        if parts.scheme != "http":
            raise ValueError(f"only http:// is supported: {base_url}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        # Every request says what a browser's would about encodings: nginx gzips JSON for it.
        self._host_header = f"Host: {parts.netloc}\r\nAccept-Encoding: gzip\r\n"
        self._idle = []
        self._open = set()
        self._closed = False

    async def request(self, method, path, body=None, headers=None):
        """(status, headers with lower-case names, body bytes); raises ClientError."""
        if method == "HEAD":
            raise ValueError("HEAD is not supported: its response is framed as if it had a body")
        head = [f"{method} {self.prefix}{path} HTTP/1.1\r\n", self._host_header]
        if headers:
            head.extend(f"{name}: {value}\r\n" for name, value in headers.items())
        if body is not None:
            head.append(f"Content-Length: {len(body)}\r\n")
        head.append("\r\n")
        request = "".join(head).encode("latin-1")
        if body is not None:
            request += body
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        connection = await self._connection(deadline)
        timer = None
        try:
            waiter = connection.send(request)
            timer = loop.call_at(deadline, _time_out, connection, waiter)
            response = await waiter
        except BaseException:
            connection.reusable = False
            self._discard(connection)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if connection.reusable and not connection.buffer:
            self._idle.append(connection)
        else:
            self._discard(connection)
        return response

    async def _connection(self, deadline):
        while self._idle:
            connection = self._idle.pop()
            # An idle connection the server closed, or that received stray bytes, is spent.
            if connection.reusable and not connection.buffer and not connection.transport.is_closing():
                return connection
            self._discard(connection)
        loop = asyncio.get_running_loop()
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(_Connection, self.host, self.port),
                max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            raise ClientError("timeout", f"no connection to {self.host}:{self.port} in time") from None
        except ConnectionResetError as error:
            # Accepted by the kernel, then reset by the server before the loop saw it open.
            raise ClientError("reset", f"connection reset while connecting: {error!r}") from None
        except OSError as error:
            raise ClientError("refused", f"cannot connect to {self.host}:{self.port}: {error!r}") from None
        if self._closed:
            # close() ran while this connection was being opened: it must not outlive it.
            connection.transport.close()
            raise ClientError("reset", "the origin was closed while connecting")
        self._open.add(connection)
        return connection

    def _discard(self, connection):
        self._open.discard(connection)
        if connection.transport is not None and not connection.transport.is_closing():
            connection.transport.close()

    async def close(self):
        """Close every connection and wait until they are closed; connections still being
        opened are closed as soon as they are."""
        self._closed = True
        connections = list(self._open)
        self._idle.clear()
        for connection in connections:
            self._discard(connection)
        if connections:
            await asyncio.gather(*(connection.lost for connection in connections))


def _time_out(connection, waiter):
    if not waiter.done():
        connection.reusable = False
        waiter.set_exception(ClientError("timeout", "no response in time"))
