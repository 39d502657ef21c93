"""The benchmark's own pieces that need no server: statistics, report rendering, and the
pgbench scripts staying in step with the SQL of ticketing/services (bench/*.sql)."""
import json
import re
from pathlib import Path

from bench import report, stats
from ticketing.services import holds

ROOT = Path(__file__).resolve().parents[2]


def _squash(sql):
    return re.sub(r"\s+", " ", sql).strip()


def test_percentiles_and_recorder():
    assert stats.percentile([], 0.5) is None
    values = [i / 1000 for i in range(1, 101)]
    assert stats.percentile(values, 0.5) == 0.051 or stats.percentile(values, 0.5) == 0.05
    assert stats.percentile(values, 0.99) == 0.099 or stats.percentile(values, 0.99) == 0.1
    recorder = stats.Recorder()
    for status in (201, 201, 409, "error:ClientOSError"):
        recorder.add("hold", status, 0.01)
    summary = recorder.summary(1.0)["hold"]
    assert summary["requests"] == 4 and summary["statuses"] == {"201": 2, "409": 1, "error:ClientOSError": 1}
    assert recorder.count("error") == 1 and recorder.count("5") == 0


def test_pgbench_scripts_claim_with_the_services_sql():
    """If holds.py changes how seats are claimed, the database's yardstick must change too."""
    services = _squash(holds._CLAIM_FIRST_FREE.text + holds._adjacent_blocks_sql(holds._ANYWHERE))
    scan = "WHERE ms.match_id = :match_id AND ms.status = 'available'"  # available seats only (0026)
    lapsed = "l.status = 'held' AND l.held_until <= now()) AS lapsed_seats"
    assert scan in services and lapsed in _squash(holds._ON_SALE_WITH_BLOCKS_ANYWHERE.prepare_sql)
    assert _squash(holds.CLAIMABLE) in _squash(holds._CLAIM_BLOCK_AND_HOLD_SQL)
    for script in ("hot_path.sql", "app_path.sql"):
        sql = _squash((ROOT / "bench" / script).read_text())
        assert scan in sql and lapsed in sql, script
        assert "FOR UPDATE SKIP LOCKED" in sql and "ORDER BY ms.section_id, ms.row_index, ms.number" in sql
        assert "INSERT INTO tickets" in sql and "INSERT INTO wallet_ledger" in sql
    assert _squash(holds.CLAIMABLE) in _squash((ROOT / "bench" / "app_path.sql").read_text())  # the block claim
    # the block plan's one window in the index's order (decision 0033), for pairs in app_path.sql
    window = "WINDOW seats_on AS (PARTITION BY section_id, row_index ORDER BY number ROWS BETWEEN CURRENT ROW AND {} FOLLOWING)"
    assert _squash(window.format(":quantity - 1")) in services
    assert _squash(window.format("1")) in _squash((ROOT / "bench" / "app_path.sql").read_text())


def test_report_renders_tables_and_charts(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "DOC", tmp_path / "performance.md")
    monkeypatch.setattr(report, "PICTURES", tmp_path / "perf")
    monkeypatch.setattr(report, "PROFILE", tmp_path / "none.md")
    cpu = {"wall_seconds": 10, "server_cpu_seconds": 5, "loadgen_cpu_seconds": 1, "postgres_cpu_seconds": 2,
           "machine_busy_cpu_seconds": 9, "other_cpu_seconds": 1, "load_average_1m_at_end": 1.5, "machine_cores": 2}
    after = {"available": 0, "held": 0, "sold": 5000, "blocked": 0, "valid_tickets": 5000, "paid_orders": 2500,
             "orders_seen_by_client": 2500, "invariants": "all hold"}
    by_type = {kind: {"requests": 2500, "rate_per_s": 250, "p50_ms": 10, "p95_ms": 20, "p99_ms": 30, "max_ms": 40,
                      "mean_ms": 12, "statuses": {"201": 2500}} for kind in ("hold", "checkout")}
    sellout = {"concurrency": 16, "stop_reason": "sold out", "wall_seconds": 10, "purchases": 2500,
               "seats_sold_by_client": 5000, "purchases_per_s": 250, "seats_per_s": 500, "requests": 5000,
               "requests_per_s": 500, "http_5xx": 0, "client_errors": 0, "by_type": by_type,
               "last_purchase_at_s": 9.5, "cpu": cpu, "after": after, "server_cpu_ms_per_purchase": 2}
    wrk = {"concurrency": 64, "wall_seconds": 10, "requests": 20000, "requests_per_s": 2000, "mib_per_s": 1,
           "p50_ms": 1, "p95_ms": 2, "p99_ms": 3, "max_ms": 4, "statuses": {"304": 20000}, "cpu": cpu}
    results = {
        "generated_at": "2026-01-01T00:00:00+00:00", "command": "make bench", "total_seconds": 300,
        "machine": {"cpu_model": "Test CPU", "cores": 2, "ram_gib": 24, "python": "3.11", "kernel": "6"},
        "postgresql": {"version": "15", "fsync": "on", "synchronous_commit": "on", "max_connections": "100"},
        "app_server": {"threads": 8, "sqlalchemy.pool_size": 24, "sqlalchemy.max_overflow": 8},
        "setup": {"layout": "10 x 20 x 25", "customers": 4000},
        "scenarios": {
            "pgbench_c16": {"script": "bench/hot_path.sql", "clients": 16, "tps": 400, "seats_per_s": 800,
                            "latency_avg_ms": 40, "purchases": 2496, "failed": 0, "cpu": cpu, "after": after},
            "pgbench_c16_prepared": {"script": "bench/hot_path.sql", "mode": "prepared", "clients": 16, "tps": 625,
                                     "seats_per_s": 1250, "latency_avg_ms": 25, "purchases": 2496, "failed": 0,
                                     "cpu": cpu, "after": after},
            **{f"sellout_c{c}": {**sellout, "concurrency": c} for c in (16, 64, 256)},
            "seat_map_304": wrk, "bare_view": {**wrk, "statuses": {"200": 20000}},
        },
        "ratios": {"app_purchases_per_s_best": 250, "pgbench_tps": 400, "app_over_pgbench": 0.625,
                   "pgbench_prepared_tps": 625, "app_over_pgbench_prepared": 0.4, "seat_map_304_over_bare": 1.0},
    }
    slower = json.loads(json.dumps(results))
    slower["ratios"].update(pgbench_tps=200, app_over_pgbench=0.6)
    report.render(json.loads(json.dumps(results)), baseline=slower)
    text = (tmp_path / "performance.md").read_text()
    assert "pgbench's hot path gave 200 tps before and 400 tps after (2.00×)" in text
    assert "| best app purchases/s ÷ pgbench hot-path tps (same run) | 0.6 | 0.625 |" in text
    report.render(json.loads(json.dumps(results)), baseline=json.loads(json.dumps(results)))
    text = (tmp_path / "performance.md").read_text()
    assert "ran at a different speed" not in text  # same machine speed: no caveat
    report.render(json.loads(json.dumps(results)), baseline=None)
    text = (tmp_path / "performance.md").read_text()
    assert "| 256 | 250 | 500 | 5000 | 9.5 s |" in text
    assert "against the hot path prepared (no planning, as the app): 250 / 625 = **0.40**" in text
    assert "| `bench/hot_path.sql` | prepared | 16 | 625 |" in text
    (target,) = [line for line in text.splitlines() if line.startswith("| purchases/s ≥ 0.5 × pgbench")]
    assert ("= **0.62**" in target or "= **0.63**" in target) and target.endswith("| met |")
    for picture in ("throughput.svg", "latency.svg", "reads.svg"):
        svg = (tmp_path / "perf" / picture).read_text()
        assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")


def test_the_ceiling_is_the_mean_of_the_hot_path_runs_that_bracket_the_app():
    from bench.ratios import hot_path_tps, ratios

    scenarios = {"pgbench_c16": {"tps": 800.0}, "pgbench_c64": {"tps": 650.0}}
    assert hot_path_tps(scenarios) == 800.0  # only the run before: the best of what ran
    scenarios["pgbench_c16_after"] = {"tps": 600.0}
    assert hot_path_tps(scenarios) == 700.0
    scenarios["sellout_c16"] = {"purchases_per_s": 140.0}
    measured = ratios(scenarios)
    assert measured["app_over_pgbench"] == 0.2 and measured["pgbench_tps_runs"] == [800.0, 600.0]
    assert "app_over_pgbench_prepared" not in measured
    scenarios["pgbench_c16_prepared"] = {"tps": 1120.0}  # the same hot path, planned once
    measured = ratios(scenarios)
    assert measured["app_over_pgbench"] == 0.2  # the headline keeps pgbench's default mode
    assert measured["pgbench_prepared_tps"] == 1120.0 and measured["app_over_pgbench_prepared"] == 0.125


def test_the_304s_are_compared_with_the_bare_view_run_around_them(tmp_path, monkeypatch):
    """The bare view runs right before and right after the 304s; the target divides by the mean,
    as the hot path's ceiling does, because this machine's speed drifts within minutes."""
    from bench.ratios import bare_view_rps, ratios

    scenarios = {"seat_map_304": {"requests_per_s": 1800.0}, "bare_view": {"requests_per_s": 2000.0}}
    assert bare_view_rps(scenarios) == 2000.0 and ratios(scenarios)["seat_map_304_over_bare"] == 0.9
    scenarios["bare_view_after"] = {"requests_per_s": 2500.0}
    measured = ratios(scenarios)
    assert measured["bare_view_rps"] == 2250.0 and measured["bare_view_rps_runs"] == [2000.0, 2500.0]
    assert measured["seat_map_304_over_bare"] == 0.8
    assert "seat_map_304_over_bare" not in ratios({"bare_view": {"requests_per_s": 2000.0}})

    cpu = {"server_cpu_seconds": 5, "loadgen_cpu_seconds": 1}
    wrk = {"requests_per_s": 1800.0, "mib_per_s": 1, "p50_ms": 1, "p95_ms": 2, "p99_ms": 3, "cpu": cpu}
    results = {"generated_at": "2026-01-01T00:00:00+00:00", "command": "make bench", "total_seconds": 60,
               "machine": {"cpu_model": "Test CPU", "cores": 2, "ram_gib": 24, "python": "3.11", "kernel": "6"},
               "postgresql": {"version": "15", "fsync": "on", "synchronous_commit": "on", "max_connections": "100"},
               "app_server": {"threads": 6, "sqlalchemy.pool_size": 12, "sqlalchemy.max_overflow": 4},
               "setup": {"layout": "10 x 20 x 25", "customers": 4000},
               "scenarios": {"seat_map_304": {**wrk, "statuses": {"304": 18000}},
                             "bare_view": {**wrk, "requests_per_s": 2000.0, "statuses": {"200": 20000}},
                             "bare_view_after": {**wrk, "requests_per_s": 2500.0, "statuses": {"200": 25000}}}}
    results["ratios"] = ratios(results["scenarios"])
    monkeypatch.setattr(report, "DOC", tmp_path / "performance.md")
    monkeypatch.setattr(report, "PICTURES", tmp_path / "perf")
    monkeypatch.setattr(report, "PROFILE", tmp_path / "none.md")
    report.render(results, baseline=None)
    text = (tmp_path / "performance.md").read_text()
    (target,) = [line for line in text.splitlines() if line.startswith("| seat map with 304s")]
    assert "1800 / 2250 (mean of 2000 right before and 2500 right after the 304s) = **0.80**" in target
    assert target.endswith("| met |")
    assert "| bare Pyramid JSON view, right after the 304s | 2500 |" in text


def test_a_partial_rerun_keeps_the_bare_views_of_one_run_together():
    """A lone re-run of the bare view replaces it and drops the old run's "after" (which was
    measured beside other 304s); the reads and the bare view re-run together keep both."""
    from bench.partial import merged

    previous = {"scenarios": {"bare_view": {"requests_per_s": 1.0}, "bare_view_after": {"requests_per_s": 2.0},
                              "seat_map_304": {"requests_per_s": 3.0}}}
    fresh = {"generated_at": "now", "total_seconds": 1, "scenarios": {"bare_view": {"requests_per_s": 10.0}}}
    scenarios = merged(previous, fresh, {"bare"})["scenarios"]
    assert scenarios["bare_view"]["requests_per_s"] == 10.0 and "bare_view_after" not in scenarios
    fresh["scenarios"].update(bare_view_after={"requests_per_s": 20.0}, seat_map_304={"requests_per_s": 30.0})
    scenarios = merged(previous, fresh, {"reads", "bare"})["scenarios"]
    assert [scenarios[n]["requests_per_s"] for n in ("bare_view", "seat_map_304", "bare_view_after")] == [10, 30, 20]
