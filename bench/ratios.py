"""The headline figures of a run, from its scenarios' results: a pure function, so the report
and its tests need none of the load generator's dependencies.

Every headline figure is taken through the production topology: nginx in front of 2 app
processes (bench/rush.py's ``Cluster``)."""
import re

#: Through nginx, 2 app processes: the closed-loop sell-outs.
SELL_OUTS = re.compile(r"sellout_c\d+(_run\d+)?")
SELL_OUT_TARGET_SECONDS = 10
POLLS_TARGET_PER_S = 10_000
POLLS_NGINX_SHARE_TARGET = 0.95
RATIO_FLOOR = 0.21
P99_TARGET_MS = 100


def hot_path_tps(scenarios):
    """The database's ceiling on this run: the hot path at 16 clients, the mean of its runs
    before and after the sell-outs when both ran; else the best of what ran."""
    runs = [scenarios[n]["tps"] for n in ("pgbench_c16", "pgbench_c16_after") if n in scenarios]
    if len(runs) == 2:
        return round(sum(runs) / 2, 1)
    best = [s["tps"] for n, s in scenarios.items() if n in ("pgbench_c16", "pgbench_c64")]
    return max(best) if best else None


def ratios(scenarios, measured_at=None):
    """``measured_at``: scenario name -> the run that measured it (bench/partial.py), when the
    scenarios come from more than one run; a ratio is only taken between scenarios of one run."""
    out = {}

    def together(*names):
        return measured_at is None or len({measured_at.get(n) for n in names}) == 1

    pg = hot_path_tps(scenarios)
    sellouts = {n: s for n, s in scenarios.items() if SELL_OUTS.fullmatch(n)}
    best = None
    if sellouts:
        best = max(sellouts, key=lambda n: sellouts[n]["purchases_per_s"])
        out["app_purchases_per_s_best"] = sellouts[best]["purchases_per_s"]
    pgbench_runs = [n for n in ("pgbench_c16", "pgbench_c16_after", "pgbench_c64") if n in scenarios]
    if pg and sellouts and together(best, *pgbench_runs):
        out["pgbench_tps"] = pg
        out["pgbench_tps_runs"] = [scenarios[n]["tps"] for n in ("pgbench_c16", "pgbench_c16_after") if n in scenarios]
        out["app_over_pgbench"] = round(out["app_purchases_per_s_best"] / pg, 3)
        if "pgbench_c16_prepared" in scenarios:
            out["pgbench_prepared_tps"] = scenarios["pgbench_c16_prepared"]["tps"]
            out["app_over_pgbench_prepared"] = round(out["app_purchases_per_s_best"] / out["pgbench_prepared_tps"], 3)
    runs = sorted(n for n in scenarios if re.fullmatch(r"sellout_c256_run\d+", n))
    if runs:
        out["sell_out_c256_seconds"] = [scenarios[n].get("last_purchase_at_s") for n in runs]
        out["sell_out_c256_5xx"] = [scenarios[n]["http_5xx"] for n in runs]
        out["sell_out_c256_met"] = all(
            scenarios[n]["after"]["sold"] == scenarios[n]["after"]["valid_tickets"] and
            scenarios[n]["after"]["available"] == 0 and scenarios[n]["http_5xx"] == 0 and
            scenarios[n]["after"]["invariants"] == "all hold" and
            (scenarios[n].get("last_purchase_at_s") or 1e9) <= SELL_OUT_TARGET_SECONDS for n in runs)
    if "paced_80" in scenarios:
        x = scenarios["paced_80"]
        hold = x["by_type"].get("hold", {}).get("p99_ms")
        checkout = x["by_type"].get("checkout", {}).get("p99_ms")
        out["p99_at_80_percent_ms"] = {"hold": hold, "checkout": checkout}
        out["p99_at_80_percent_met"] = hold is not None and checkout is not None and max(hold, checkout) <= P99_TARGET_MS
    if "seat_map_304" in scenarios:
        x = scenarios["seat_map_304"]
        out["seat_map_polls_per_s"] = x["requests_per_s"]
        out["seat_map_polls_answered_by_nginx"] = x.get("answered_by_nginx_share")
        out["seat_map_polls_met"] = (x["requests_per_s"] >= POLLS_TARGET_PER_S and
                                     (x.get("answered_by_nginx_share") or 0) >= POLLS_NGINX_SHARE_TARGET)
    if "seat_map_304_direct" in scenarios and "seat_map_304" in scenarios and together("seat_map_304",
                                                                                     "seat_map_304_direct"):
        out["seat_map_polls_nginx_over_direct"] = round(
            scenarios["seat_map_304"]["requests_per_s"] / scenarios["seat_map_304_direct"]["requests_per_s"], 2)
    one_names = [n for n in ("sellout_c64_1proc", "sellout_c256_1proc") if n in scenarios]
    one = [scenarios[n]["purchases_per_s"] for n in one_names]
    if one and sellouts and together(best, *one_names):
        out["two_processes_over_one"] = round(out["app_purchases_per_s_best"] / max(one), 3)
    return out
