"""``make bench``: the rush on one match, measured end to end, with the database's own ceiling.

One run: a fresh database, the app under waitress from ``production.ini``, the untimed
set-up, then every scenario of docs/performance.md in turn, each followed by the invariant
checks (a broken invariant stops the run with a non-zero exit). Results go to
``bench/results/latest.json`` and ``docs/performance.md`` (with the SVG charts in
``docs/perf/``) is rendered from it.

    python -m bench.rush                 # the full run (5-10 minutes on 2 cores)
    python -m bench.rush --smoke         # every scenario, tiny budgets (a minute): checks the harness
    python -m bench.rush --no-report     # keep docs/ untouched (profiling runs)
    python -m bench.rush --only nginx    # only the scale-out through nginx (1 and 2 app processes)

``--only`` runs some scenario groups and merges their results into the existing
``bench/results/latest.json`` (the other scenarios keep their numbers) before rendering.
The ``nginx`` group needs Debian's nginx (``apt-get install -y nginx``); without it the
group is skipped with a logged reason, and nothing is installed.
"""
import argparse
import json
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg2

from bench import checks, environment, loadgen, nginx, pgbench, prepare, wrk
from bench.partial import merged
from bench.ratios import ratios
from bench.environment import CpuMeter, log

RESULTS = Path(__file__).resolve().parent / "results"
SELL_OUT_CONCURRENCY = (16, 64, 256)
PACED_SHARES = (0.5, 0.7, 0.8)
# Overload: purchases started at twice the peak, with and without load shedding (decision
# 0025). In flight at most 1,800 purchases (one connection each): below production.ini's
# connection_limit of 2,000, so the queue is waitress's, where the app can see it.
OVERLOAD_SHARE = 2.0
OVERLOAD_IN_FLIGHT = 1800
#: Arrivals stop before they could sell the overload's match out (at most this share of its
#: seats started), so that the end of the sale does not end the overload: in a fast hour,
#: twice the peak for 12 s was more purchases than a match has.
OVERLOAD_MATCH_SHARE = 0.9
OVERLOAD_SCENARIOS = ("overload_shed", "overload_unbounded")
CUSTOMERS = 4000


def fail(message):
    log("FAILED: " + message)
    sys.exit(1)


def preflight():
    missing = []
    if not wrk.available():
        missing.append("wrk")
    if pgbench.executable() is None:
        missing.append("pgbench")
    if missing:
        fail(f"missing {', '.join(missing)}: apt-get install -y wrk postgresql-client (pgbench) and run again")


def settings_for(smoke):
    if smoke:
        return {"deadline_s": 4, "wrk_s": 2, "mixed_s": 3, "chosen_s": 4, "paced_s": 3, "overload_s": 3,
                "max_requests": 4000}
    return {"deadline_s": 150, "wrk_s": 10, "mixed_s": 20, "chosen_s": 30, "paced_s": 12, "overload_s": 12,
            "max_requests": 60000}


def run_loadgen(name, kind, url, server, match_id, customers, concurrency, deadline_s, max_requests, via=None):
    """``via``: a proxy (bench/nginx.py) that every request goes through; its CPU is reported apart."""
    servers = server if isinstance(server, list) else [server]
    log(f"{name}: {kind} at concurrency {concurrency} on {len(servers)} app process(es)"
        + (f" through nginx {via.base}" if via else "") + f" (at most {deadline_s}s / {max_requests} requests)")
    proxy_cpu = via.cpu_seconds() if via else 0.0
    environment.vacuum(url)
    with CpuMeter(servers) as meter:
        bases = via.base if via else [s.base for s in servers]
        scenario = loadgen.run_scenario(kind, bases, match_id, customers, concurrency, deadline_s, max_requests)
    result = {"scenario": name, "kind": kind, "match_id": match_id, "app_processes": len(servers),
              **scenario.result(), "cpu": meter.result()}
    if via:
        proxy_cpu = round(via.cpu_seconds() - proxy_cpu, 2)
        result["cpu"]["proxy_cpu_seconds"] = proxy_cpu
        result["cpu"]["other_cpu_seconds"] = round(max(0.0, result["cpu"]["other_cpu_seconds"] - proxy_cpu), 2)
    result["after"] = checks.check(url, match_id, scenario.orders, prepare.SEATS)
    if result["purchases"]:
        result["server_cpu_ms_per_purchase"] = round(1000 * result["cpu"]["server_cpu_seconds"] / result["purchases"], 1)
    log(f"  {result['purchases']} purchases, {result['purchases_per_s']}/s, stop: {result['stop_reason']}, "
        f"5xx: {result['http_5xx']}, sold {result['after']['sold']}, invariants: {result['after']['invariants']}")
    return result


def run_paced(name, url, server, match_id, customers, peak, share, seconds, max_requests, max_in_flight=512,
              wait_limit_ms=None):
    """Purchases started at ``share`` of the ``peak`` purchases/s (open loop), for latency.
    ``wait_limit_ms``: the app's load-shedding limit (ticketing.max_queue_wait_ms), recorded."""
    rate = round(share * peak, 1)
    log(f"{name}: purchases started at {rate}/s ({share:.0%} of the {peak}/s peak) for {seconds}s")
    environment.vacuum(url)
    with CpuMeter(server) as meter:
        scenario = loadgen.run_paced(server.base, match_id, customers, rate, seconds, max_requests, max_in_flight)
    result = {"scenario": name, "kind": "paced", "match_id": match_id, "app_processes": 1,
              "max_in_flight": max_in_flight, "wait_limit_ms": wait_limit_ms, "arrival_seconds": seconds,
              "peak_purchases_per_s": peak, "share_of_peak": share, "target_purchases_per_s": rate,
              "late_starts": scenario.late_starts, **scenario.result(), "cpu": meter.result()}
    result["after"] = checks.check(url, match_id, scenario.orders, prepare.SEATS)
    if result["purchases"]:
        result["server_cpu_ms_per_purchase"] = round(1000 * result["cpu"]["server_cpu_seconds"] / result["purchases"], 1)
    hold, checkout = result["by_type"].get("hold", {}), result["by_type"].get("checkout", {})
    log(f"  {result['purchases']} purchases, {result['purchases_per_s']}/s, p99 hold {hold.get('p99_ms')} ms, "
        f"checkout {checkout.get('p99_ms')} ms, late starts {scenario.late_starts}, 5xx: {result['http_5xx']}, "
        f"invariants: {result['after']['invariants']}")
    return result


def run_wrk(name, server, path, concurrency, seconds, etag=None):
    # (Reads write nothing: no vacuum needed before them.)
    log(f"{name}: wrk GET {path} at concurrency {concurrency} for {seconds}s" + (" with If-None-Match" if etag else ""))
    with CpuMeter(server) as meter:
        result = wrk.run(server.base, path, concurrency, seconds, etag=etag)
    result = {"scenario": name, "path": path, "if_none_match": bool(etag), **result, "cpu": meter.result()}
    log(f"  {result['requests_per_s']} req/s, p99 {result['p99_ms']} ms, statuses {result['statuses']}")
    return result


def etag_of(base, match_id):
    import urllib.request

    with urllib.request.urlopen(f"{base}/api/v1/matches/{match_id}/seats", timeout=30) as response:
        return response.headers["ETag"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny budgets: check the harness, not the app")
    parser.add_argument("--no-report", action="store_true", help="do not write results/latest.json or docs/")
    parser.add_argument("--output", default=None, help="write the results JSON here instead")
    parser.add_argument("--only", default=None,
                        help="comma-separated scenario groups: "
                             "pgbench,sellout,chosen,reads,mixed,overload,scale,nginx,bare")
    parser.add_argument("--sellout-concurrency", default=None,
                        help="comma-separated buyer counts for the sell-out group (profiling runs; default 16,64,256)")
    args = parser.parse_args(argv)
    sellout_concurrency = (tuple(int(c) for c in args.sellout_concurrency.split(","))
                           if args.sellout_concurrency else SELL_OUT_CONCURRENCY)
    groups = {"pgbench", "sellout", "chosen", "reads", "mixed", "overload", "scale", "nginx", "bare"}
    only = set(args.only.split(",")) if args.only else groups
    if only - groups:
        parser.error(f"unknown scenario group(s): {', '.join(sorted(only - groups))}")
    if "reads" in only and "bare" not in only:
        # The 304 target's yardstick runs beside the 304s: a re-run of the reads alone must
        # not leave them beside a bare view measured in another run.
        log("--only reads: the bare view runs with it (the 304 target divides by it)")
        only.add("bare")
    skipped = {}
    if "nginx" in only and nginx.executable() is None:
        skipped["nginx"] = "nginx is not installed (Debian: apt-get install -y nginx); scale-out through nginx skipped"
        log(skipped["nginx"])
        only.discard("nginx")
        if not only:
            log("nothing left to run")
            return None
    budget = settings_for(args.smoke)
    preflight()
    started = time.monotonic()
    results = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "make bench" if not args.smoke else "python -m bench.rush --smoke",
        "machine": environment.machine(),
        "scenarios": {},
    }
    if skipped:
        results["skipped"] = skipped

    run_secrets = environment.generated_secrets()
    with environment.fresh_database(run_secrets) as url:
        results["postgresql"] = environment.server_version(url)
        app = environment.start_app(url, run_secrets)
        try:
            results["app_server"] = {"ini": "production.ini", "pid": app.process.pid,
                                     **_server_settings()}
            log(f"app on {app.base} (pid {app.process.pid})")
            t0 = time.monotonic()
            token_settings = prepare.token_settings(environment.INI, {"DATABASE_URL": url, **run_secrets})
            (staff_id,) = prepare.create_users(url, 1, "staff", 0)
            staff_token = prepare.issue_tokens(token_settings, [staff_id], "staff")[0][1]
            stadium, sections = prepare.create_stadium(app.base, staff_token)
            names = ["warmup", *(f"sellout_c{c}" for c in sorted(set(sellout_concurrency) | set(SELL_OUT_CONCURRENCY))), "sellout_c64_2proc", "sellout_c256_2proc",
                     *(f"paced_{round(share * 100)}" for share in PACED_SHARES),
                     *NGINX_SCENARIOS, *OVERLOAD_SCENARIOS, "chosen",
                     "reads", "mixed",
                     "pgbench_c16", "pgbench_c64", "pgbench_app_path_c16", "pgbench_c16_prepared", "pgbench_c16_after"]
            matches = {name: prepare.create_match(app.base, staff_token, stadium, sections, name) for name in names}
            customer_ids = prepare.create_users(url, CUSTOMERS, "customer", prepare.WALLET_BALANCE)
            conn = psycopg2.connect(url)
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("ANALYZE")
            conn.close()
            results["setup"] = {
                "seconds": round(time.monotonic() - t0, 1), "seats_per_match": prepare.SEATS,
                "layout": f"{prepare.SECTIONS} sections x {prepare.ROWS_PER_SECTION} rows x {prepare.SEATS_PER_ROW} seats",
                "categories": [{"name": n, "price": p, "sections": len(r)} for n, p, r in prepare.CATEGORIES],
                "customers": CUSTOMERS, "wallet_balance": prepare.WALLET_BALANCE,
            }
            log(f"set-up done in {results['setup']['seconds']}s: {len(matches)} matches of {prepare.SEATS} seats, "
                f"{CUSTOMERS} funded customers")

            def customers():  # fresh tokens per scenario: access tokens live 15 minutes
                return prepare.issue_tokens(token_settings, customer_ids)

            scenarios = results["scenarios"]
            # Warm-up: connection pool, caches, the first seat-map render; not reported.
            loadgen.run_scenario("best_available", app.base, matches["warmup"], customers(), 16, 3, 3000)

            def run_pgbench(name, script, clients, mode="simple"):
                log(f"{name}: pgbench -M {mode} bench/{script}.sql with {clients} clients")
                with CpuMeter() as meter:
                    result = pgbench.run(url, matches[name], customer_ids[0], customer_ids[-1], clients, script,
                                         mode=mode)
                result["cpu"] = meter.result()
                result["after"] = checks.check(url, matches[name], [], prepare.SEATS)
                scenarios[name] = result
                log(f"  {result['tps']} purchases/s ({result['seats_per_s']} seats/s), "
                    f"invariants: {result['after']['invariants']}")

            if "pgbench" in only:
                for name, script, clients, mode in (
                        ("pgbench_c16", "hot_path", 16, "simple"), ("pgbench_c64", "hot_path", 64, "simple"),
                        ("pgbench_app_path_c16", "app_path", 16, "simple"),
                        ("pgbench_c16_prepared", "hot_path", 16, "prepared")):
                    run_pgbench(name, script, clients, mode)

            if "sellout" in only:
                for concurrency in sellout_concurrency:
                    name = f"sellout_c{concurrency}"
                    scenarios[name] = run_loadgen(name, "best_available", url, app, matches[name], customers(),
                                                  concurrency, budget["deadline_s"], budget["max_requests"])
                # Latency against load, with arrivals at a fixed rate: 50, 70 and 80 % of the
                # peak just measured (the target is at 80 %).
                peak = max(scenarios[f"sellout_c{c}"]["purchases_per_s"] for c in sellout_concurrency)
                for share in PACED_SHARES:
                    name = f"paced_{round(share * 100)}"
                    scenarios[name] = run_paced(name, url, app, matches[name], customers(), peak, share,
                                                budget["paced_s"], budget["max_requests"])
                if "pgbench" in only:
                    # The database's ceiling again, right after the sell-outs: on a shared
                    # machine its speed drifts within minutes, so the ratio is taken against the
                    # mean of the two hot-path runs that bracket the app's (ratios()).
                    run_pgbench("pgbench_c16_after", "hot_path", 16)
            if "chosen" in only:
                scenarios["chosen_c64"] = run_loadgen("chosen_c64", "chosen_seats", url, app, matches["chosen"],
                                                      customers(), 64, budget["chosen_s"], budget["max_requests"])
            if "reads" in only:
                path = f"/api/v1/matches/{matches['reads']}/seats"
                scenarios["seat_map_200"] = run_wrk("seat_map_200", app, path, 64, budget["wrk_s"])
                etag = etag_of(app.base, matches["reads"])
                if "bare" in only:
                    # The 304 target's yardstick, run right before and right after the 304s
                    # (ratios.bare_view_rps takes the mean): this machine's speed drifts within
                    # minutes, and the bare view used to run last, minutes after the 304s.
                    bare = environment.start_bare()
                    try:
                        scenarios["bare_view"] = run_wrk("bare_view", bare, "/", 64, budget["wrk_s"])
                        scenarios["seat_map_304"] = run_wrk("seat_map_304", app, path, 64, budget["wrk_s"], etag=etag)
                        scenarios["bare_view_after"] = run_wrk("bare_view_after", bare, "/", 64, budget["wrk_s"])
                    finally:
                        bare.stop()
                else:
                    scenarios["seat_map_304"] = run_wrk("seat_map_304", app, path, 64, budget["wrk_s"], etag=etag)
                # The same polls with the fast path off (seatmap.fresh_seconds = 0, decision
                # 0014): every poll costs the ETag query, as before the fast path.
                db_path = environment.start_app(url, run_secrets, name="app_seat_map_db",
                                                settings=["seatmap.fresh_seconds=0"])
                try:
                    scenarios["seat_map_304_db"] = run_wrk("seat_map_304_db", db_path, path, 64, budget["wrk_s"],
                                                           etag=etag_of(db_path.base, matches["reads"]))
                finally:
                    db_path.stop()
                for name in ("seat_map_200", "seat_map_304", "seat_map_304_db"):
                    scenarios[name]["after"] = checks.check(url, matches["reads"], [], prepare.SEATS)
            if "mixed" in only:
                scenarios["mixed_c64"] = run_loadgen("mixed_c64", "mixed", url, app, matches["mixed"], customers(),
                                                     64, budget["mixed_s"], budget["max_requests"])
            if "overload" in only:
                scenarios.update(run_overload(url, run_secrets, app, matches, customers, budget,
                                              peak_of(scenarios)))
            if "scale" in only:
                # Scale-out: two app processes on the same database, configured as
                # deploy/README.md runs several on one host (their threads, decision 0028);
                # buyers are spread over both as a round-robin load balancer would.
                pair = []
                try:
                    for number in (1, 2):
                        pair.append(environment.start_app(url, run_secrets, name=f"app_scale{number}",
                                                          scale_out=True))
                        loadgen.run_scenario("best_available", pair[-1].base, matches["warmup"], customers(), 16,
                                             2, 500)
                    for concurrency in (64, 256):
                        name = f"sellout_c{concurrency}_2proc"
                        scenarios[name] = run_loadgen(name, "best_available", url, pair, matches[name],
                                                      customers(), concurrency, budget["deadline_s"],
                                                      budget["max_requests"])
                finally:
                    for server in pair:
                        server.stop()
            if "nginx" in only:
                scenarios.update(run_nginx(url, run_secrets, matches, customers, budget))
        finally:
            app.stop()
        if "bare" in only and "reads" not in only:
            bare = environment.start_bare()
            try:
                scenarios["bare_view"] = run_wrk("bare_view", bare, "/", 64, budget["wrk_s"])
            finally:
                bare.stop()

    elapsed = results["total_seconds"] = round(time.monotonic() - started, 1)
    if args.only and not args.output and not args.no_report and (RESULTS / "latest.json").exists():
        # A partial re-run: the other scenarios keep the numbers of the last full run.
        results = merged(json.loads((RESULTS / "latest.json").read_text()), results, only)
    results["ratios"] = ratios(results["scenarios"])
    log(f"done in {elapsed}s: {json.dumps(results['ratios'])}")
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    elif not args.no_report:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
        from bench import report

        report.render(results)
        log("wrote bench/results/latest.json and docs/performance.md")
    return results


NGINX_SCENARIOS = ("sellout_c64_nginx_1proc", "sellout_c64_nginx_2proc")


def peak_of(scenarios):
    """The closed-loop peak purchases/s of this run's one-process sell-outs, else of the last
    full run's (``--only overload``), else 150."""

    def peaks(found):
        return [x["purchases_per_s"] for name, x in found.items() if re.fullmatch(r"sellout_c\d+", name)]

    found = peaks(scenarios)
    if not found and (RESULTS / "latest.json").exists():
        found = peaks(json.loads((RESULTS / "latest.json").read_text())["scenarios"])
    return max(found) if found else 150.0


def run_overload(url, run_secrets, app, matches, customers, budget, peak):
    """Open arrivals at twice the peak: the production settings (load shedding on), then a
    second process with shedding off, the queue's wait unbounded (decision 0025)."""
    results = {}
    limit = _server_settings()["ticketing.max_queue_wait_ms"]
    purchases_per_match = prepare.SEATS // 2  # every purchase holds two seats
    seconds = min(budget["overload_s"], round(OVERLOAD_MATCH_SHARE * purchases_per_match / (OVERLOAD_SHARE * peak), 1))
    results["overload_shed"] = run_paced("overload_shed", url, app, matches["overload_shed"], customers(), peak,
                                         OVERLOAD_SHARE, seconds, budget["max_requests"],
                                         OVERLOAD_IN_FLIGHT, wait_limit_ms=limit)
    unbounded = environment.start_app(url, run_secrets, name="app_unbounded",
                                      settings=["ticketing.max_queue_wait_ms=0"])
    try:
        loadgen.run_scenario("best_available", unbounded.base, matches["warmup"], customers(), 16, 2, 500)
        results["overload_unbounded"] = run_paced(
            "overload_unbounded", url, unbounded, matches["overload_unbounded"], customers(), peak, OVERLOAD_SHARE,
            seconds, budget["max_requests"], OVERLOAD_IN_FLIGHT, wait_limit_ms=0)
    finally:
        unbounded.stop()
    return results


def run_nginx(url, run_secrets, matches, customers, budget):
    """Sell-out at 64 buyers through nginx (deploy/nginx.conf) with 1, then 2 app processes.

    App processes of their own, started as deploy/README.md says (waitress trusting the
    proxy's X-Forwarded-* headers): one process alone runs production.ini's threads, two
    sharing the host run 4 each (decision 0028), so the two runs start their own processes;
    nginx is stopped with its upstreams after each run.
    """
    out = {}
    for count, name in ((1, "sellout_c64_nginx_1proc"), (2, "sellout_c64_nginx_2proc")):
        apps = []
        try:
            for number in range(1, count + 1):
                apps.append(environment.start_app(url, run_secrets, name=f"app_nginx{count}_{number}",
                                                  behind_proxy=True, scale_out=count > 1))
            proxy = nginx.Nginx(apps)
            try:
                log(f"nginx on {proxy.base} (pid {proxy.process.pid}) in front of "
                    f"{', '.join(a.base for a in apps)}")
                # Warm-up through nginx: pools, caches and nginx's keep-alive connections.
                loadgen.run_scenario("best_available", proxy.base, matches["warmup"], customers(), 16, 2, 500 * count)
                result = run_loadgen(name, "best_available", url, apps, matches[name], customers(), 64,
                                     budget["deadline_s"], budget["max_requests"], via=proxy)
                result["via"] = "nginx (deploy/nginx.conf)"
                result["threads_per_process"] = (environment.SCALE_OUT_THREADS if count > 1
                                                 else _server_settings()["threads"])
                out[name] = result
            finally:
                proxy.stop()
        finally:
            for app in apps:
                app.stop()
    return out


def _server_settings():
    import plaster

    loader = plaster.get_loader(str(environment.INI), protocols=["wsgi"])
    server = loader.get_settings("server:main")
    app = loader.get_settings("app:main")
    return {
        "threads": int(server.get("threads", 4)),
        "scale_out_threads": environment.SCALE_OUT_THREADS,
        "sqlalchemy.pool_size": int(app.get("sqlalchemy.pool_size", 5)),
        "sqlalchemy.max_overflow": int(app.get("sqlalchemy.max_overflow", 10)),
        "connection_limit": int(server.get("connection_limit", 100)),
        "gil_switch_interval_ms": float(server.get("gil_switch_interval_ms", 5)),
        "ticketing.max_queue_wait_ms": int(app.get("ticketing.max_queue_wait_ms", 0)),
    }


if __name__ == "__main__":
    try:
        main()
    except checks.InvariantBroken as broken:
        fail(str(broken))
