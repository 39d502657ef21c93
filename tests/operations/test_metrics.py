"""``/metrics`` in one process: counts follow commits, routes are named, logs are JSON in
production's format and never carry a secret (ticketing/metrics.py, ticketing/request_log.py)."""
import configparser
import json
import logging

import webtest
from sqlalchemy import text

import ticketing
from ticketing import request_log

from ..conftest import app_settings
from ..functional.catalogue_helpers import published_match
from ..database import ROOT
from .metrics_text import total


def _scrape(app):
    response = app.get("/metrics", status=200)
    assert response.content_type == "text/plain" and response.headers["Cache-Control"] == "no-store"
    return response.text


def test_business_counters_count_commits_only(staff, customer, testapp, engine, monkeypatch):
    match, *_ = published_match(staff, prices=(4500,))
    before = _scrape(testapp)
    customer.post("/api/v1/wallet/top-ups", {"amount": 5000}, status=201)
    first = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json
    second = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json  # replaces
    customer.post(f"/api/v1/holds/{second['id']}/checkout", status=201)
    customer.post(f"/api/v1/holds/{second['id']}/checkout", status=409)  # rolled back: not counted
    broke = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json
    customer.post(f"/api/v1/holds/{broke['id']}/checkout", status=402)  # short wallet: rolled back
    customer.delete(f"/api/v1/holds/{broke['id']}", status=204)
    after = _scrape(testapp)

    def delta(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    assert first["id"] != second["id"]
    assert delta("ticketing_holds_created_total") == 3
    assert delta("ticketing_holds_released_total", reason="replaced") == 1
    assert delta("ticketing_holds_released_total", reason="released") == 1
    assert delta("ticketing_purchases_total") == 1
    assert delta("ticketing_seats_sold_total") == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM orders")).scalar_one() == 1
    # By route name, never by URL (one series per route, not per hold id).
    assert delta("ticketing_http_requests_total", route="api.hold.checkout", status="201") == 1
    assert delta("ticketing_http_requests_total", route="api.hold.checkout", status="409") == 1
    assert delta("ticketing_http_requests_total", route="api.hold.checkout", status="402") == 1
    assert f"/api/v1/holds/{second['id']}" not in after
    assert total(after, "ticketing_db_pool_size", pool="session") > 0
    # Seats are read from the database at most every refresh_seconds: still the first read's.
    assert total(after, "ticketing_match_seats", match_id=str(match["id"]), status="sold") == 0
    monkeypatch.setattr(testapp.app.registry["metrics_sale_collector"], "refresh_seconds", 0)
    fresh = _scrape(testapp)
    seats = {status: total(fresh, "ticketing_match_seats", match_id=str(match["id"]), status=status)
             for status in ("available", "held", "sold")}
    assert seats == {"available": 29, "held": 0, "sold": 1}


def test_refunds_and_gate_scans_are_counted_by_kind(staff, customer, testapp):
    match, *_ = published_match(staff, prices=(1000,))
    customer.post("/api/v1/wallet/top-ups", {"amount": 5000}, status=201)
    before = _scrape(testapp)
    orders = []
    for _ in range(2):
        hold = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json
        orders.append(customer.post(f"/api/v1/holds/{hold['id']}/checkout", status=201).json)
    code = customer.get(f"/api/v1/tickets/{orders[1]['tickets'][0]['id']}").json["code"]
    gate = f"/api/v1/matches/{match['id']}/check-ins"
    staff.post(gate, {"code": code}, status=200)
    staff.post(gate, {"code": code}, status=409)
    staff.post(gate, {"code": code[:-4] + "AAAA"}, status=422)
    customer.post(f"/api/v1/orders/{orders[0]['id']}/cancel", status=200)
    customer.post(f"/api/v1/orders/{orders[0]['id']}/cancel", status=409)
    staff.post(f"/api/v1/matches/{match['id']}/cancel", status=200)
    after = _scrape(testapp)
    assert total(after, "ticketing_refunds_total", by="customer") - total(before, "ticketing_refunds_total", by="customer") == 1
    for result in ("admitted", "already_admitted", "forged"):
        assert (total(after, "ticketing_gate_scans_total", result=result)
                - total(before, "ticketing_gate_scans_total", result=result)) == 1, result
    assert (total(after, "ticketing_refunds_total", by="match_cancelled")
            - total(before, "ticketing_refunds_total", by="match_cancelled")) == 1


def test_metrics_can_be_turned_off(database_url):
    app = webtest.TestApp(ticketing.main({}, **app_settings(database_url, **{"metrics.enabled": "false"})))
    app.get("/metrics", status=404)


def _production_json_formatter():
    """The formatter production.ini gives its handler, built as logging.config would."""
    ini = configparser.RawConfigParser()
    ini.read(ROOT / "production.ini")
    assert ini["handler_console"]["formatter"] == "json"
    section = ini["formatter_json"]
    module, _, name = section["class"].rpartition(".")
    formatter_class = getattr(__import__(module, fromlist=[name]), name)
    return formatter_class(section["format"])


def test_access_log_is_one_json_line_per_request_in_production_format(customer, caplog):
    caplog.set_level(logging.INFO, logger="ticketing.access")
    customer.get("/api/v1/wallet", status=200, headers={"X-Request-ID": "json-1"})
    customer.post("/api/v1/auth/login", {"email": customer.user["email"], "password": customer.user["password"]},
                  status=200, headers={"X-Request-ID": "json-2"})
    records = [r for r in caplog.records if r.name == "ticketing.access"]
    formatter = _production_json_formatter()
    lines = [formatter.format(record) for record in records]
    assert all("\n" not in line for line in lines)
    parsed = [json.loads(line) for line in lines]
    wallet, login = parsed[-2], parsed[-1]
    assert wallet["request_id"] == "json-1" and wallet["route"] == "api.wallet" and wallet["status"] == 200
    assert wallet["user_id"] == customer.user["id"] and wallet["duration_ms"] >= 0 and wallet["levelname"] == "INFO"
    assert login["route"] == "api.auth.login" and login["request_id"] == "json-2"
    for secret in (customer.token, customer.user["password"], customer.user["refresh_token"]):
        assert all(secret not in line for line in lines)
    # Development keeps a plain line for people.
    plain = logging.Formatter("%(levelname)s [%(name)s] %(message)s").format(records[-2])
    assert "GET /api/v1/wallet 200" in plain and "route=api.wallet rid=json-1" in plain
    assert request_log.fields_of(records[-2])["status"] == 200


def test_a_scrape_during_a_database_outage_still_answers():
    """During a failover the request and pool metrics matter most: the seat figures' failure
    is reported as ``ticketing_sale_figures_ok 0``, never as a failed scrape."""
    from sqlalchemy import create_engine

    from ticketing import metrics

    unreachable = create_engine("postgresql+psycopg2://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    families = {family.name: family for family in metrics.SaleCollector(unreachable).collect()}
    assert families["ticketing_sale_figures_ok"].samples[0].value == 0
    assert families["ticketing_match_seats"].samples == []


def test_pool_gauges_follow_checkouts(database_url):
    """Checked-out and overflow connections as the pool sees them, back to 0 when returned."""
    from sqlalchemy import create_engine

    from ticketing import metrics

    engine = create_engine(database_url, pool_size=1, max_overflow=2)
    metrics.watch_pool(engine, "probe")

    def gauge(g):
        return total(metrics.generate_latest(metrics.REGISTRY).decode(), g.describe()[0].name, pool="probe")

    first, second = engine.connect(), engine.connect()
    assert (gauge(metrics.POOL_CHECKED_OUT), gauge(metrics.POOL_OVERFLOW), gauge(metrics.POOL_SIZE)) == (2, 1, 1)
    second.close()
    first.close()
    assert (gauge(metrics.POOL_CHECKED_OUT), gauge(metrics.POOL_OVERFLOW)) == (0, 0)
    engine.dispose()


def test_waiting_room_figures(staff, user_factory, testapp, monkeypatch):
    match, *_ = published_match(staff)
    url = f"/api/v1/matches/{match['id']}"
    staff.put(f"{url}/waiting-room", {"enabled": True, "mode": "fixed", "admit_per_minute": 120, "paused": True},
              status=200)
    for fan in (user_factory(), user_factory()):
        fan.post(f"{url}/queue", status=201)
    monkeypatch.setattr(testapp.app.registry["metrics_sale_collector"], "refresh_seconds", 0)
    body = _scrape(testapp)
    label = {"match_id": str(match["id"])}
    assert total(body, "ticketing_waiting_room_waiting", **label) == 2
    assert total(body, "ticketing_waiting_room_called", **label) == 0
    assert total(body, "ticketing_waiting_room_admit_per_minute", **label) == 120
    assert total(body, "ticketing_waiting_room_paused", **label) == 1
