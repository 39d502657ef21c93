"""docs/performance.md's section on the synchronous standby's cost (bench/replication.py's
rounds), rendered without a server: each round, and the means with and without the standby."""
from bench import report

from .test_bench_harness import _results, _sellout


def _rounds(number, mode, rate, p99):
    standby_names = "ANY 1 (pgautofailover_standby_2)" if mode == "with_standby" else ""
    closed = _sellout(12, rate=rate, concurrency=64)
    closed["replication"] = {"mode": mode, "synchronous_standby_names": standby_names, "wal_bytes_per_purchase": 4100}
    paced = {**_sellout(10, rate=60), "target_purchases_per_s": 60, "share_of_peak": 0.5}
    paced["by_type"] = {kind: {**paced["by_type"][kind], "p99_ms": p99} for kind in ("hold", "checkout")}
    paced["replication"] = {"mode": mode, "synchronous_standby_names": standby_names, "paced": True}
    name = f"replication_{mode}_{number}"
    return {name: closed, f"{name}_paced": paced}


def test_the_rounds_and_the_cost_of_the_standby(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "DOC", tmp_path / "performance.md")
    monkeypatch.setattr(report, "PICTURES", tmp_path / "perf")
    scenarios = {**_rounds(1, "with_standby", 120, 80), **_rounds(2, "standby_stopped", 150, 60),
                 **_rounds(3, "with_standby", 130, 100), **_rounds(4, "standby_stopped", 150, 40)}
    report.render(_results(scenarios))
    text = (tmp_path / "performance.md").read_text()
    assert "## Synchronous replication: what the standby costs" in text
    assert ("| 1 | with the synchronous standby | 120 | 60 / 60 | 10 / 80 | 10 / 80 | 0 | 0.8 | 4100 | 0.5 / 0.5 "
            "| all hold |" in text)
    assert "| 4 | standby stopped (primary alone) | 150 | 60 / 60 | 10 / 40 |" in text
    assert ("Median of the rounds: 125.0 purchases/s with it, 150.0 without (**0.83×**); at the fixed rate, "
            "checkout p50 / p99 10.0 / 90.0 ms with it against 10.0 / 50.0 ms without; PostgreSQL CPU 0.8 against "
            "0.8 ms per purchase.") in text


def test_a_skipped_measurement_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "DOC", tmp_path / "performance.md")
    monkeypatch.setattr(report, "PICTURES", tmp_path / "perf")
    results = _results({})
    results["skipped"] = {"replication": "pg_auto_failover is not installed"}
    report.render(results)
    assert "Not measured in this run: pg_auto_failover is not installed." in (tmp_path / "performance.md").read_text()
