"""One address cannot shut everyone else out (deploy/nginx.conf's ``limit_conn``).

2,000 idle sockets from one address made ``/healthz`` time out for every other client when
they reached the app. Behind nginx they cost nginx an idle connection each and the app
nothing, and an address that keeps requests open is cut off at its limit with 429 while a
second address is still served. The control shows the same flood against the app alone.
"""
import socket
import threading
import time
from contextlib import ExitStack
from types import SimpleNamespace

import pytest
import waitress

from bench import nginx

from ..system_packages import require

LIMIT = 100  # deploy/nginx.conf
OTHER_ADDRESS = "127.0.0.2"  # the whole of 127.0.0.0/8 is loopback: a second client


def serve(app, connection_limit):
    server = waitress.create_server(app, listen="127.0.0.1:0", threads=2, connection_limit=connection_limit,
                                    asyncore_use_poll=True,
                                    trusted_proxy="127.0.0.1", trusted_proxy_headers="x-forwarded-for",
                                    clear_untrusted_proxy_headers=True, channel_timeout=30)
    threading.Thread(target=server.run, daemon=True).start()
    return server


def open_sockets(stack, port, count, send=b""):
    sockets = []
    for _ in range(count):
        sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
        if send:
            sock.sendall(send)
        sockets.append(sock)
    return sockets


def healthz_status(port, address=OTHER_ADDRESS, timeout=3):
    """``GET /healthz`` from a client bound to ``address``: its status, or None on a timeout."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(address, 0)) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: tickets\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
    except (socket.timeout, TimeoutError):
        return None
    return int(answer.split(b" ", 2)[1])


@pytest.fixture
def app_server(wsgi_app):
    server = serve(wsgi_app, connection_limit=1300)  # production.ini's
    yield server
    server.close()
    server.task_dispatcher.shutdown(timeout=5)


def test_idle_sockets_and_open_requests_from_one_address_leave_others_served(app_server):
    require(nginx.executable(), "nginx", "the per-address connection limit")
    proxy = nginx.Nginx([SimpleNamespace(port=app_server.effective_port)], name="nginx-limits", per_address=LIMIT)
    try:
        with ExitStack() as stack:
            # 2,000 idle sockets: nginx holds them; the app sees none of them.
            open_sockets(stack, proxy.port, 2000)
            started = time.monotonic()
            assert healthz_status(proxy.port) == 200
            assert time.monotonic() - started < 2
            # Requests kept open (headers sent, the body never finished) count against the
            # address: past the limit, that address is refused at once...
            slow = b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" \
                   b"Content-Length: 100\r\n\r\n{\"email\":"
            open_sockets(stack, proxy.port, LIMIT, send=slow)
            time.sleep(0.3)
            assert healthz_status(proxy.port, address="127.0.0.1") == 429
            # ...and every other address is still served.
            assert healthz_status(proxy.port) == 200
    finally:
        proxy.stop()


def test_control_the_same_flood_straight_at_the_app_shuts_others_out(wsgi_app):
    """Without nginx, one address's idle sockets fill the process's connection limit (50 here,
    for speed; 1,000 in production.ini) and a second client waits in vain."""
    server = serve(wsgi_app, connection_limit=50)
    try:
        with ExitStack() as stack:
            open_sockets(stack, server.effective_port, 60)
            time.sleep(0.3)
            assert healthz_status(server.effective_port, timeout=2) is None
    finally:
        server.close()
        server.task_dispatcher.shutdown(timeout=5)
