"""The access log (ticketing/request_log.py): one JSON line per request, at INFO when it went
well and at WARNING when it failed or was slow, so production (WARN) keeps only those."""
import logging

from ticketing import request_log


def _lines(caplog):
    return [(record.levelno, request_log.fields_of(record)) for record in caplog.records
            if record.name == "ticketing.access"]


def test_successes_are_info_and_failures_are_warnings(anonymous, caplog):
    caplog.set_level(logging.INFO, logger="ticketing.access")
    anonymous.get("/api/v1/matches", status=200, headers={"X-Request-ID": "ok-1"})
    anonymous.get("/api/v1/matches/999999", status=404, headers={"X-Request-ID": "missing-1"})
    lines = _lines(caplog)
    assert [(level, line["request_id"], line["status"]) for level, line in lines] == [
        (logging.INFO, "ok-1", 200),
        (logging.WARNING, "missing-1", 404),
    ]
    assert lines[1][1]["path"] == "/api/v1/matches/999999" and lines[1][1]["duration_ms"] >= 0


def test_production_level_keeps_only_failures_and_slow_requests(anonymous, caplog, monkeypatch):
    caplog.set_level(logging.WARNING, logger="ticketing.access")
    anonymous.get("/api/v1/matches", status=200, headers={"X-Request-ID": "fast-1"})
    monkeypatch.setattr(request_log, "SLOW_MS", 0)  # every request now counts as slow
    anonymous.get("/api/v1/matches", status=200, headers={"X-Request-ID": "slow-1"})
    assert [line["request_id"] for _, line in _lines(caplog)] == ["slow-1"]
