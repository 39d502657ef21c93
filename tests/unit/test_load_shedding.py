"""Load shedding (ticketing/load_shedding.py, decision 0035) with a clock the test moves:
which routes are finishing work (as routes.py declares them), which stamps are believed, and
which requests are refused."""
from types import SimpleNamespace

import pytest
from pyramid.interfaces import IRoutesMapper

from ticketing.load_shedding import ShedLateRequests, queue_patience
from ticketing.proxy_clock import proxy_arrival, proxy_stamp
from ticketing.problems import ServiceBusy

NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def routes(wsgi_app):
    return {route.name: route for route in wsgi_app.registry.getUtility(IRoutesMapper).get_routes()}


@pytest.mark.parametrize("route, method, patience", [
    ("api.hold.checkout", "POST", 3),
    ("api.hold", "DELETE", 3),
    ("api.match.check_ins", "POST", 3),
    ("api.auth.signup", "POST", 4),
    ("api.auth.login", "POST", 4),
    ("api.match.queue", "POST", 3),
    ("api.match.queue.admission", "POST", 3),
    ("api.match.queue", "GET", 1),
    ("api.hold", "GET", 1),
    ("api.match.holds", "POST", 1),
    ("api.match.seats", "GET", 1),
    ("api.wallet.top_ups", "POST", 1),
])
def test_routes_py_declares_how_long_requests_may_wait(routes, route, method, patience):
    assert queue_patience(routes[route], method) == patience


@pytest.mark.parametrize("environ, expected", [
    ({"HTTP_X_FORWARDED_FOR": "203.0.113.7", "HTTP_X_REQUEST_START": "t=1800000000.250"}, 1800000000.25),
    ({"HTTP_X_FORWARDED_FOR": "203.0.113.7", "HTTP_X_REQUEST_START": "1800000000.250"}, 1800000000.25),
    ({"HTTP_X_REQUEST_START": "t=1800000000.250"}, None),  # not through waitress's trusted proxy
    ({"HTTP_X_FORWARDED_FOR": "203.0.113.7"}, None),  # a proxy that does not stamp
    ({"HTTP_X_FORWARDED_FOR": "203.0.113.7", "HTTP_X_REQUEST_START": "t=soon"}, None),
])
def test_only_a_stamp_that_came_through_the_trusted_proxy_counts(environ, expected):
    assert proxy_stamp(environ) == expected


@pytest.mark.parametrize("environ, expected", [
    # nginx held the request 2.5 s (the waiting room's joins are paced at the edge).
    ({"HTTP_X_FORWARDED_FOR": "203.0.113.7", "HTTP_X_REQUEST_START": "t=1800000000.250",
      "HTTP_X_REQUEST_AGE": "2.500"}, 1799999997.75),
    ({"HTTP_X_FORWARDED_FOR": "203.0.113.7", "HTTP_X_REQUEST_START": "t=1800000000.250"}, 1800000000.25),
    ({"HTTP_X_FORWARDED_FOR": "203.0.113.7", "HTTP_X_REQUEST_START": "t=1800000000.250",
      "HTTP_X_REQUEST_AGE": "-5"}, 1800000000.25),
    ({"HTTP_X_REQUEST_START": "t=1800000000.250", "HTTP_X_REQUEST_AGE": "2.5"}, None),  # not via the proxy
])
def test_a_request_arrived_when_the_proxy_read_it(environ, expected):
    assert proxy_arrival(environ) == expected


def event(routes, name, method, waited):
    environ = {"HTTP_X_FORWARDED_FOR": "203.0.113.7", "HTTP_X_REQUEST_START": f"t={NOW - waited:.3f}"}
    request = SimpleNamespace(matched_route=routes.get(name), method=method, environ=environ)
    return SimpleNamespace(request=request)


@pytest.fixture
def shed():
    return ShedLateRequests(2.0, clock=lambda: NOW)


def test_a_request_that_waited_less_than_the_limit_is_served(routes, shed):
    shed(event(routes, "api.match.holds", "POST", 1.9))


def test_a_request_that_waited_too_long_is_refused_with_a_spread_retry_after(routes, shed):
    seen = set()
    for _ in range(300):
        with pytest.raises(ServiceBusy) as refused:
            shed(event(routes, "api.match.holds", "POST", 2.5))
        seen.add(int(refused.value.headers["Retry-After"]))
        assert refused.value.headers["Cache-Control"] == "no-store"
    assert seen == {1, 2}
    assert "2.5 s" in refused.value.detail and "nothing changed" in refused.value.detail


def test_what_finishes_work_waits_three_times_the_limit_and_password_hashing_four(routes, shed):
    for name, method, times in (("api.hold.checkout", "POST", 3), ("api.hold", "DELETE", 3),
                                ("api.match.check_ins", "POST", 3), ("api.auth.signup", "POST", 4)):
        shed(event(routes, name, method, times * 2.0 - 0.1))
        with pytest.raises(ServiceBusy):
            shed(event(routes, name, method, times * 2.0 + 0.1))


def test_health_and_admin_are_served_however_long_they_waited(routes, shed):
    for name, method in (("healthz", "GET"), ("admin.dashboard", "GET"), ("admin.match.gate", "POST")):
        shed(event(routes, name, method, 600))


def test_an_unmatched_url_is_left_to_the_not_found_view(shed):
    shed(SimpleNamespace(request=SimpleNamespace(matched_route=None, method="GET", environ={})))


def test_the_app_refuses_before_nginx_gives_up(routes):
    """Every patience times production's wait limit ends before nginx's proxy_read_timeout:
    otherwise nginx answers a 504 while the request may still run and commit."""
    import configparser
    import re

    from tests.database import ROOT

    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ROOT / "production.ini")
    limit_s = int(ini["app:main"]["ticketing.max_queue_wait_ms"]) / 1000
    read_timeout_s = int(re.search(r"proxy_read_timeout (\d+)s;", (ROOT / "deploy" / "nginx.conf").read_text()).group(1))
    longest = max(queue_patience(route, method) for route in routes.values()
                  for method in ("GET", "POST", "PUT", "PATCH", "DELETE"))
    assert longest * limit_s + 5 <= read_timeout_s, (longest, limit_s, read_timeout_s)


def test_a_retried_request_is_not_judged_again(routes, shed):
    """pyramid_retry runs a request again after a deadlock: it started in time, and its second
    attempt is not shed for the time the first one took."""
    retried = event(routes, "api.hold.checkout", "POST", 60)
    retried.request.environ["retry.attempt"] = 1
    shed(retried)
    with pytest.raises(ServiceBusy):
        shed(event(routes, "api.hold.checkout", "POST", 60))
