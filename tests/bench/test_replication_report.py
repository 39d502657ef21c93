"""docs/performance.md's section on the synchronous standby's cost (bench/replication.py's
rounds), rendered without a server: each round, and the means with and without the standby."""
from bench import report

from .test_bench_harness import _results, _sellout


def _round(mode, rate, p99):
    x = _sellout(15, rate=rate, concurrency=64)
    x["by_type"]["checkout"]["p99_ms"] = p99
    x["replication"] = {"mode": mode, "synchronous_standby_names": "ANY 1 (pgautofailover_standby_2)"
                        if mode == "with_standby" else "", "wal_bytes_per_purchase": 4100}
    return x


def test_the_rounds_and_the_cost_of_the_standby(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "DOC", tmp_path / "performance.md")
    monkeypatch.setattr(report, "PICTURES", tmp_path / "perf")
    scenarios = {"replication_with_standby_1": _round("with_standby", 120, 80),
                 "replication_standby_stopped_2": _round("standby_stopped", 150, 60),
                 "replication_with_standby_3": _round("with_standby", 130, 100),
                 "replication_standby_stopped_4": _round("standby_stopped", 150, 40)}
    report.render(_results(scenarios))
    text = (tmp_path / "performance.md").read_text()
    assert "## Synchronous replication: what the standby costs" in text
    assert "| 1 | with the synchronous standby | 120 | 10 / 30 | 10 / 80 | 0 | 0.8 | 4100 | all hold |" in text
    assert "| 4 | standby stopped (primary alone) | 150 |" in text
    assert ("125.0 purchases/s with it, 150.0 without (**0.83×**); checkout p99 90.0 ms against 50.0 ms, "
            "hold p99 30.0 ms against 30.0 ms.") in text


def test_a_skipped_measurement_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "DOC", tmp_path / "performance.md")
    monkeypatch.setattr(report, "PICTURES", tmp_path / "perf")
    results = _results({})
    results["skipped"] = {"replication": "pg_auto_failover is not installed"}
    report.render(results)
    assert "Not measured in this run: pg_auto_failover is not installed." in (tmp_path / "performance.md").read_text()
