"""The headline ratios of a run, from its scenarios' results: a pure function, so the report
and its tests need none of the load generator's dependencies."""


def hot_path_tps(scenarios):
    """The database's ceiling on this run: the hot path at 16 clients (pgbench's best
    concurrency here), the mean of its runs before and after the sell-outs when both ran;
    else the best of what ran."""
    runs = [scenarios[n]["tps"] for n in ("pgbench_c16", "pgbench_c16_after") if n in scenarios]
    if len(runs) == 2:
        return round(sum(runs) / 2, 1)
    best = [s["tps"] for n, s in scenarios.items() if n in ("pgbench_c16", "pgbench_c64")]
    return max(best) if best else None


def bare_view_rps(scenarios):
    """The bare view's rate on this run: the mean of its runs right before and right after the
    seat map's 304s when both ran (the machine's speed drifts within minutes, so the 304s are
    compared with what the bare view did around them); else its one run."""
    runs = [scenarios[n]["requests_per_s"] for n in ("bare_view", "bare_view_after") if n in scenarios]
    return round(sum(runs) / len(runs), 1) if runs else None


def ratios(scenarios):
    out = {}
    pg = hot_path_tps(scenarios)
    sellouts = {n: s for n, s in scenarios.items() if n in ("sellout_c16", "sellout_c64", "sellout_c256")}
    if pg and sellouts:
        best_pg = pg
        best_app = max(s["purchases_per_s"] for s in sellouts.values())
        out["app_purchases_per_s_best"] = best_app
        out["pgbench_tps"] = best_pg
        out["pgbench_tps_runs"] = [scenarios[n]["tps"] for n in ("pgbench_c16", "pgbench_c16_after") if n in scenarios]
        out["app_over_pgbench"] = round(best_app / best_pg, 3)
        if "pgbench_c16_prepared" in scenarios:
            # The same hot path without planning (the app prepares its statements): the
            # stricter yardstick, reported beside the headline.
            out["pgbench_prepared_tps"] = scenarios["pgbench_c16_prepared"]["tps"]
            out["app_over_pgbench_prepared"] = round(best_app / out["pgbench_prepared_tps"], 3)
        two = [s["purchases_per_s"] for n, s in scenarios.items() if n in ("sellout_c64_2proc", "sellout_c256_2proc")]
        if two:
            out["app_2proc_over_pgbench"] = round(max(two) / best_pg, 3)
    if "pgbench_app_path_c16" in scenarios and "sellout_c16" in scenarios:
        out["app_over_pgbench_app_path_c16"] = round(
            scenarios["sellout_c16"]["purchases_per_s"] / scenarios["pgbench_app_path_c16"]["tps"], 3)
    if "sellout_c64_2proc" in scenarios and "sellout_c64" in scenarios:
        out["two_processes_over_one_c64"] = round(
            scenarios["sellout_c64_2proc"]["purchases_per_s"] / scenarios["sellout_c64"]["purchases_per_s"], 3)
    if "sellout_c64_nginx_1proc" in scenarios and "sellout_c64_nginx_2proc" in scenarios:
        out["nginx_two_processes_over_one_c64"] = round(
            scenarios["sellout_c64_nginx_2proc"]["purchases_per_s"]
            / scenarios["sellout_c64_nginx_1proc"]["purchases_per_s"], 3)
    if "sellout_c256" in scenarios:
        s = scenarios["sellout_c256"]
        out["sell_out_c256_seconds"] = s.get("last_purchase_at_s")
        out["sell_out_c256_sold"] = s["after"]["sold"]
        out["sell_out_c256_5xx"] = s["http_5xx"]
    if "sellout_c256_2proc" in scenarios:
        s = scenarios["sellout_c256_2proc"]
        out["sell_out_c256_2proc_seconds"] = s.get("last_purchase_at_s")
    bare = bare_view_rps(scenarios)
    if "seat_map_304" in scenarios and bare:
        out["bare_view_rps"] = bare
        out["bare_view_rps_runs"] = [scenarios[n]["requests_per_s"] for n in ("bare_view", "bare_view_after")
                                     if n in scenarios]
        out["seat_map_304_over_bare"] = round(scenarios["seat_map_304"]["requests_per_s"] / bare, 3)
    return out
