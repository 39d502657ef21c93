"""``/metrics`` through deploy/nginx.conf: answered to the allowed addresses (127.0.0.1 in the
shipped site), refused with a 403 to any other, however the request is dressed."""
import http.client
import threading
from types import SimpleNamespace

import pytest
import waitress

from bench import nginx

from ..system_packages import require


@pytest.fixture
def through_nginx(wsgi_app):
    require(nginx.executable(), "nginx", "the /metrics access test")
    server = waitress.create_server(wsgi_app, listen="127.0.0.1:0", threads=2, trusted_proxy="127.0.0.1",
                                    trusted_proxy_headers="x-forwarded-for x-forwarded-proto",
                                    clear_untrusted_proxy_headers=True)
    threading.Thread(target=server.run, daemon=True).start()
    proxy = nginx.Nginx([SimpleNamespace(port=server.effective_port)],
                        name="nginx-metrics", per_address=100)
    yield proxy.port
    proxy.stop()
    server.close()
    server.task_dispatcher.shutdown(timeout=5)


def _get(port, path, source, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_metrics_only_from_allowed_addresses(through_nginx, clean_db):
    status, body = _get(through_nginx, "/metrics", "127.0.0.1")
    assert status == 200 and "ticketing_http_requests_total" in body
    # Any other address (127.0.0.2 is this host's loopback too, but not on the list) is refused,
    # also when it claims to be forwarded for an allowed one.
    assert _get(through_nginx, "/metrics", "127.0.0.2")[0] == 403
    assert _get(through_nginx, "/metrics", "127.0.0.2", {"X-Forwarded-For": "127.0.0.1"})[0] == 403
    assert _get(through_nginx, "/nginx_status", "127.0.0.2")[0] == 403
    status, body = _get(through_nginx, "/nginx_status", "127.0.0.1")
    assert status == 200 and "Active connections" in body
    # Everything else is served to everyone as before.
    assert _get(through_nginx, "/healthz", "127.0.0.2")[0] == 200
