"""A body larger than the API takes is refused before it is read.

A request declaring ``Content-Length: 209715200`` used to be read to its end before the 413
came, and waitress's own limit was its default of 1 GiB: a few such uploads held threads and
memory. Now both ini files set waitress's ``max_request_body_size`` (1 MiB), and the app
refuses a declared length over it before reading the body (ticketing/input_guard.py).
"""
import configparser
import socket
import threading
import time

import pytest
import waitress

from tests.database import ROOT

ONE_MIB = 1024 * 1024
HUGE = b"POST /api/v1/auth/signup HTTP/1.1\r\nHost: tickets\r\nContent-Type: application/json\r\n" \
       b"Content-Length: 209715200\r\n\r\n{\"email\":"


def waitress_options(ini):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / ini)
    return parser["server:main"]


@pytest.mark.parametrize("ini", ["development.ini", "production.ini"])
def test_both_ini_files_limit_bodies_in_waitress(ini):
    assert int(waitress_options(ini)["max_request_body_size"]) == ONE_MIB


def first_answer(port, timeout):
    """Send the huge request's head (and a few bytes of body); the status line, or None."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(HUGE)
        try:
            return sock.recv(200).split(b"\r\n", 1)[0]
        except (socket.timeout, TimeoutError):
            return None


def serving(app, **options):
    server = waitress.create_server(app, listen="127.0.0.1:0", threads=2, **options)
    threading.Thread(target=server.run, daemon=True).start()
    return server


def test_an_oversized_declared_body_is_refused_before_it_is_sent(wsgi_app):
    server = serving(wsgi_app, max_request_body_size=int(waitress_options("production.ini")["max_request_body_size"]))
    try:
        started = time.monotonic()
        assert first_answer(server.effective_port, timeout=3) == b"HTTP/1.1 413 Request Entity Too Large"
        assert time.monotonic() - started < 1
    finally:
        server.close()
        server.task_dispatcher.shutdown(timeout=5)


def test_control_with_waitress_default_the_server_waits_for_the_whole_body(wsgi_app):
    server = serving(wsgi_app)  # max_request_body_size: waitress's 1 GiB default
    try:
        assert first_answer(server.effective_port, timeout=2) is None
    finally:
        server.close()
        server.task_dispatcher.shutdown(timeout=5)


def test_the_app_refuses_a_declared_length_without_reading_the_body(testapp):
    """Behind a server that passes the request on (waitress under its limit, or any WSGI
    server), the declared length alone is enough for the app's 413: the body is not read."""

    class Unreadable:
        def read(self, *args):
            raise AssertionError("the body was read")

    statuses = []
    response = testapp.app(
        {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/auth/signup", "SERVER_NAME": "x", "SERVER_PORT": "80",
         "wsgi.url_scheme": "http", "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(2 * ONE_MIB),
         "wsgi.input": Unreadable(), "REMOTE_ADDR": "127.0.0.1"},
        lambda status, headers: statuses.append(status))
    body = b"".join(response)
    assert statuses == ["413 Request Entity Too Large"] and b"payload-too-large" in body
