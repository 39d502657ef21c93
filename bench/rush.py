"""``make bench``: the rush on one match, measured through the production topology.

One run: a fresh database; the app as ops run it (``pserve production.ini http_port=...``
per process, behind the deployed ``deploy/nginx.conf``); the untimed set-up; then every
scenario of docs/performance.md in turn, each followed by the invariant checks (a broken
invariant stops the run with a non-zero exit). Results go to ``bench/results/latest.json``
and ``docs/performance.md`` (with the SVG charts in ``docs/perf/``) is rendered from it.

The headline figures go through nginx in front of 2 app processes (the shipped upstream).
The same sell-outs run through nginx in front of 1 process, and once straight to one process
without nginx, as secondary rows.

    python -m bench.rush                 # the full run (8-12 minutes on 2 cores)
    python -m bench.rush --smoke         # every scenario, tiny budgets: checks the harness
    python -m bench.rush --no-report     # keep docs/ untouched (profiling runs)
    python -m bench.rush --only reads    # some groups only, merged into latest.json
    python -m bench.rush --only metrics --no-report   # scrape overhead: metrics on vs off

Needs Debian's nginx, wrk and pgbench (``apt-get install -y nginx wrk postgresql-client``).
"""
import argparse
import json
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg2

from bench import checks, environment, loadgen, nginx, pgbench, prepare, replication, wrk
from bench.environment import CpuMeter, log
from bench.partial import measured_at, merged
from bench.ratios import ratios

RESULTS = Path(__file__).resolve().parent / "results"
GROUPS = ("pgbench", "sellout", "paced", "chosen", "mixed", "reads", "overload", "queue", "one_process", "direct",
          "replication", "metrics")
#: The scrape-overhead pair (issue 30): the same sell-out with metrics on, /metrics scraped
#: through nginx every this many seconds (4x Prometheus's 15 s, deploy/prometheus), and off.
METRICS_SCRAPE_EVERY_S = 1.0
#: The 256-buyer sell-out through nginx in front of 2 processes, run this many times in a row:
#: the target must hold in each run, not in the best.
CONSECUTIVE_SELL_OUTS = 3
PACED_SHARES = (0.5, 0.7, 0.8)
# Overload: purchases started at twice the peak, with load shedding (nginx stamps each
# request) and without (an nginx that does not stamp).
OVERLOAD_SHARE = 2.0
OVERLOAD_IN_FLIGHT = 1800
#: Arrivals stop before they could sell the overload's match out (at most this share of its
#: seats started), so that the end of the sale does not end the overload.
OVERLOAD_MATCH_SHARE = 0.9
CUSTOMERS = 4000
#: queue_rush: this many fans arrive within QUEUE_ARRIVAL_SECONDS, for a 5,000-seat match.
QUEUE_FANS = 20_000
QUEUE_ARRIVAL_SECONDS = 10
#: The waiting room's pace in the benchmark: adaptive, at most this many fans shopping at once
#: (the sell-outs above: 2 processes serve 256 buyers at once without shedding).
QUEUE_MAX_SHOPPING = 256
QUEUE_OPENS_AFTER_SECONDS = 5


def fail(message):
    log("FAILED: " + message)
    sys.exit(1)


def preflight():
    missing = [name for name, found in (("nginx", nginx.executable()), ("wrk", wrk.available()),
                                        ("pgbench", pgbench.executable())) if not found]
    if missing:
        fail(f"missing {', '.join(missing)}: apt-get install -y nginx wrk postgresql-client, and run again")


def settings_for(smoke):
    if smoke:
        return {"deadline_s": 4, "wrk_s": 2, "mixed_s": 3, "chosen_s": 4, "paced_s": 3, "overload_s": 3,
                "replication_s": 3, "replication_paced_s": 3, "max_requests": 4000}
    return {"deadline_s": 150, "wrk_s": 10, "mixed_s": 20, "chosen_s": 30, "paced_s": 12, "overload_s": 12,
            "replication_s": 12, "replication_paced_s": 10, "max_requests": 60000}


class Cluster:
    """``count`` app processes (``pserve production.ini``) behind the deployed nginx."""

    def __init__(self, url, run_secrets, count, name, env=None):
        self.count = count
        self.apps = []
        try:
            for number in range(1, count + 1):
                self.apps.append(environment.start_app(url, run_secrets, name=f"{name}_{number}", env=env))
            self.proxy = nginx.Nginx(self.apps, name=f"nginx-{name}")
        except BaseException:
            self.stop()
            raise
        self.base = self.proxy.base
        log(f"{name}: nginx {self.base} in front of {', '.join(app.base for app in self.apps)}")

    def stop(self):
        if getattr(self, "proxy", None) is not None:
            self.proxy.stop()
        for app in self.apps:
            app.stop()


def _measured(name, url, match_id, scenario, meter, servers, via, extra=None):
    result = {"scenario": name, "match_id": match_id, "app_processes": len(servers),
              "via": "nginx (deploy/nginx.conf)" if via else "direct", **(extra or {}),
              **scenario.result(), "cpu": meter.result()}
    if via:
        result["cpu"]["proxy_cpu_seconds"] = round(via.cpu_seconds() - result.pop("_proxy_cpu_before"), 2)
        result["cpu"]["other_cpu_seconds"] = round(
            max(0.0, result["cpu"]["other_cpu_seconds"] - result["cpu"]["proxy_cpu_seconds"]), 2)
    result["after"] = checks.check(url, match_id, scenario.orders, prepare.SEATS)
    if result["purchases"]:
        result["server_cpu_ms_per_purchase"] = round(
            1000 * result["cpu"]["server_cpu_seconds"] / result["purchases"], 1)
    return result


def run_loadgen(name, kind, url, target, match_id, customers, concurrency, deadline_s, max_requests):
    """A closed-loop scenario against a Cluster (through its nginx) or one app process (direct)."""
    servers, via = (target.apps, target.proxy) if isinstance(target, Cluster) else ([target], None)
    log(f"{name}: {kind} at concurrency {concurrency}, {len(servers)} app process(es)"
        + (" through nginx" if via else " direct") + f" (at most {deadline_s}s / {max_requests} requests)")
    environment.vacuum(url)
    proxy_before = via.cpu_seconds() if via else 0.0
    with CpuMeter(servers) as meter:
        scenario = loadgen.run_scenario(kind, target.base, match_id, customers, concurrency, deadline_s, max_requests)
    result = _measured(name, url, match_id, scenario, meter, servers, via,
                       {"kind": kind, "_proxy_cpu_before": proxy_before} if via else {"kind": kind})
    log(f"  {result['purchases']} purchases, {result['purchases_per_s']}/s, sold out at "
        f"{result.get('last_purchase_at_s')} s, stop: {result['stop_reason']}, 5xx: {result['http_5xx']}, "
        f"sold {result['after']['sold']}, invariants: {result['after']['invariants']}")
    return result


def run_paced(name, url, cluster, match_id, customers, peak, share, seconds, max_requests, max_in_flight=512,
              via=None, shedding=True):
    """Purchases started at ``share`` of the ``peak`` purchases/s (open loop), for latency.
    ``via``: another nginx in front of the cluster's processes (the overload without stamps)."""
    proxy = via or cluster.proxy
    rate = round(share * peak, 1)
    log(f"{name}: purchases started at {rate}/s ({share:.0%} of the {peak}/s peak) for {seconds}s")
    environment.vacuum(url)
    proxy_before = proxy.cpu_seconds()
    with CpuMeter(cluster.apps) as meter:
        scenario = loadgen.run_paced(proxy.base, match_id, customers, rate, seconds, max_requests, max_in_flight)
    result = _measured(name, url, match_id, scenario, meter, cluster.apps, proxy, {
        "kind": "paced", "max_in_flight": max_in_flight, "load_shedding": shedding, "arrival_seconds": seconds,
        "peak_purchases_per_s": peak, "share_of_peak": share, "target_purchases_per_s": rate,
        "late_starts": scenario.late_starts, "_proxy_cpu_before": proxy_before})
    hold, checkout = result["by_type"].get("hold", {}), result["by_type"].get("checkout", {})
    log(f"  {result['purchases']} purchases, {result['purchases_per_s']}/s, p99 hold {hold.get('p99_ms')} ms, "
        f"checkout {checkout.get('p99_ms')} ms, late starts {scenario.late_starts}, 5xx: {result['http_5xx']}, "
        f"invariants: {result['after']['invariants']}")
    return result


def cache_statuses(access_log, since_line, request=None):
    """``$upstream_cache_status`` of the requests nginx logged after line ``since_line`` (only
    those whose request line starts with ``request``, if given)."""
    time.sleep(1.5)  # the access log is buffered, flushed every second (deploy/nginx.conf)
    counts = {}
    for line in access_log.read_text().splitlines()[since_line:]:
        if request is not None and f'"{request}' not in line:
            continue
        found = re.search(r" ucs=(\S+)", line)
        status = found.group(1) if found else "?"
        counts[status] = counts.get(status, 0) + 1
    return counts


def run_wrk(name, cluster, path, concurrency, seconds, etag=None, direct=False):
    """GET ``path`` with wrk through nginx (or straight to the first process, ``direct``)."""
    base = cluster.apps[0].base if direct else cluster.base
    log(f"{name}: wrk GET {path} at concurrency {concurrency} for {seconds}s"
        + (" with If-None-Match" if etag else "") + (" straight to one process" if direct else " through nginx"))
    log_file = cluster.proxy.access_log
    since = len(log_file.read_text().splitlines()) if log_file.exists() else 0
    proxy_before = cluster.proxy.cpu_seconds()
    with CpuMeter(cluster.apps) as meter:
        result = wrk.run(base, path, concurrency, seconds, etag=etag, threads=1 if direct else 2)
    result = {"scenario": name, "path": path, "if_none_match": bool(etag), "via": "direct" if direct else "nginx",
              **result, "cpu": meter.result()}
    if not direct:
        result["cpu"]["proxy_cpu_seconds"] = round(cluster.proxy.cpu_seconds() - proxy_before, 2)
        statuses = cache_statuses(log_file, since)
        answered_by_nginx = sum(n for status, n in statuses.items() if status in ("HIT", "UPDATING", "STALE"))
        result["cache_statuses"] = statuses
        result["answered_by_nginx_share"] = round(answered_by_nginx / max(1, sum(statuses.values())), 4)
    log(f"  {result['requests_per_s']} req/s, p99 {result['p99_ms']} ms, statuses {result['statuses']}"
        + (f", nginx answered {result['answered_by_nginx_share']:.1%} ({result['cache_statuses']})"
           if not direct else ""))
    return result


def etag_of(base, match_id):
    import urllib.request

    with urllib.request.urlopen(f"{base}/api/v1/matches/{match_id}/seats", timeout=30) as response:
        return response.headers["ETag"]


def scenario_names(sellout_concurrency):
    return ["warmup", "warmup_1proc",
            *(f"sellout_c{c}" for c in sellout_concurrency),
            *(f"sellout_c256_run{n}" for n in range(1, CONSECUTIVE_SELL_OUTS + 1)),
            "sellout_c64_1proc", "sellout_c256_1proc", "sellout_c256_direct",
            *(f"paced_{round(share * 100)}" for share in PACED_SHARES),
            "overload_shed", "overload_unbounded", "chosen", "reads", "mixed", "queue_rush", "queue_rush_without",
            "pgbench_c16", "pgbench_c64", "pgbench_app_path_c16", "pgbench_c16_prepared", "pgbench_c16_after",
            "warmup_metrics_on", "warmup_metrics_off", "sellout_c64_metrics_on", "sellout_c64_metrics_off"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny budgets: check the harness, not the app")
    parser.add_argument("--no-report", action="store_true", help="do not write results/latest.json or docs/")
    parser.add_argument("--output", default=None, help="write the results JSON here instead")
    parser.add_argument("--only", default=None, help="comma-separated scenario groups: " + ",".join(GROUPS))
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else set(GROUPS)
    if only - set(GROUPS):
        parser.error(f"unknown scenario group(s): {', '.join(sorted(only - set(GROUPS)))}")
    budget = settings_for(args.smoke)
    preflight()
    started = time.monotonic()
    results = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "make bench" if not args.smoke else "python -m bench.rush --smoke",
        "machine": environment.machine(),
        "scenarios": {},
    }
    run_secrets = environment.generated_secrets()
    with environment.fresh_database(run_secrets) as url:
        results["postgresql"] = environment.server_version(url)
        results["app_server"] = _server_settings()
        scenarios = results["scenarios"]
        sellout_concurrency = (16, 64, 256) if "sellout" in only else (256,) if "paced" in only else ()
        token_settings = prepare.token_settings(environment.INI, {"DATABASE_URL": url, **run_secrets})
        (staff_id,) = prepare.create_users(url, 1, "staff", 0)
        staff_token = prepare.issue_tokens(token_settings, [staff_id], "staff")[0][1]
        cluster = Cluster(url, run_secrets, 2, "app2")
        try:
            t0 = time.monotonic()
            stadium, sections = prepare.create_stadium(cluster.base, staff_token)
            matches = {name: prepare.create_match(cluster.base, staff_token, stadium, sections, name)
                       for name in scenario_names(sellout_concurrency)}
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

            # Warm-up through nginx: pools, prepared statements, nginx's keep-alive connections.
            loadgen.run_scenario("best_available", cluster.base, matches["warmup"], customers(), 16, 3, 3000)

            for concurrency in sellout_concurrency:
                if concurrency == 256:
                    # The target is a 10 s sell-out in each of several runs in a row.
                    for number in range(1, CONSECUTIVE_SELL_OUTS + 1):
                        name = f"sellout_c256_run{number}"
                        scenarios[name] = run_loadgen(name, "best_available", url, cluster, matches[name],
                                                      customers(), 256, budget["deadline_s"], budget["max_requests"])
                else:
                    name = f"sellout_c{concurrency}"
                    scenarios[name] = run_loadgen(name, "best_available", url, cluster, matches[name], customers(),
                                                  concurrency, budget["deadline_s"], budget["max_requests"])
            if "paced" in only:
                # Latency against load, with arrivals at a fixed rate: 50, 70 and 80 % of the
                # peak just measured (the target is at 80 %).
                peak = peak_of(scenarios)
                for share in PACED_SHARES:
                    name = f"paced_{round(share * 100)}"
                    scenarios[name] = run_paced(name, url, cluster, matches[name], customers(), peak, share,
                                                budget["paced_s"], budget["max_requests"])
            if "chosen" in only:
                scenarios["chosen_c64"] = run_loadgen("chosen_c64", "chosen_seats", url, cluster, matches["chosen"],
                                                      customers(), 64, budget["chosen_s"], budget["max_requests"])
            if "mixed" in only:
                scenarios["mixed_c64"] = run_loadgen("mixed_c64", "mixed", url, cluster, matches["mixed"],
                                                     customers(), 64, budget["mixed_s"], budget["max_requests"])
            if "reads" in only:
                scenarios.update(run_reads(url, cluster, matches["reads"], budget))
            if "overload" in only:
                scenarios.update(run_overload(url, cluster, matches, customers, budget, peak_of(scenarios)))
            if "queue" in only:
                scenarios.update(run_queue_rush(url, cluster, matches, token_settings, staff_token, budget,
                                                args.smoke))
            if "pgbench" in only and "sellout" in only:
                # The database's ceiling again, after the sell-outs: this machine's speed drifts
                # within minutes, so the ratio is taken against the mean of the two runs.
                run_pgbench("pgbench_c16_after", "hot_path", 16)
        finally:
            cluster.stop()
        if "one_process" in only or "direct" in only:
            scenarios.update(run_one_process(url, run_secrets, matches, customers, budget, only))
        if "metrics" in only:
            scenarios.update(run_metrics_overhead(url, run_secrets, matches, customers, budget))
    if "replication" in only:
        # On a pg_auto_failover pair of its own, with a database of its own (bench/replication.py).
        reason = replication.missing()
        if reason:
            log(f"replication: skipped: {reason}")
            results.setdefault("skipped", {})["replication"] = reason
        else:
            results["scenarios"].update(replication.run(run_secrets, budget, Cluster, run_loadgen, run_paced))

    elapsed = results["total_seconds"] = round(time.monotonic() - started, 1)
    if args.only and not args.output and not args.no_report and (RESULTS / "latest.json").exists():
        # A partial re-run: the other scenarios keep the numbers of the last full run.
        results = merged(json.loads((RESULTS / "latest.json").read_text()), results, only)
    results["ratios"] = ratios(results["scenarios"], measured_at(results) if results.get("partial_reruns") else None)
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


def peak_of(scenarios):
    """The closed-loop peak purchases/s through nginx in front of 2 processes in this run,
    else of the last full run's, else 150."""

    def peaks(found):
        return [x["purchases_per_s"] for name, x in found.items()
                if re.fullmatch(r"sellout_c\d+(_run\d+)?", name)]

    found = peaks(scenarios)
    if not found and (RESULTS / "latest.json").exists():
        found = peaks(json.loads((RESULTS / "latest.json").read_text())["scenarios"])
    return max(found) if found else 150.0


def run_reads(url, cluster, match_id, budget):
    """The public seat map polled by anonymous fans through nginx: full bodies, then with
    ``If-None-Match`` (the rush's polls), and the same polls straight to one process."""
    out = {}
    path = f"/api/v1/matches/{match_id}/seats"
    out["seat_map_200"] = run_wrk("seat_map_200", cluster, path, 64, budget["wrk_s"])
    etag = etag_of(cluster.base, match_id)
    out["seat_map_304"] = run_wrk("seat_map_304", cluster, path, 256, budget["wrk_s"], etag=etag)
    out["seat_map_304_direct"] = run_wrk("seat_map_304_direct", cluster, path, 64, budget["wrk_s"],
                                         etag=etag_of(cluster.apps[0].base, match_id), direct=True)
    for name in out:
        out[name]["after"] = checks.check(url, match_id, [], prepare.SEATS)
    return out


def run_overload(url, cluster, matches, customers, budget, peak):
    """Open arrivals at twice the peak: through the deployed nginx (it stamps each request, so
    the app sheds what waited too long), then through an nginx without the stamp (nothing is
    shed: the queue's wait is unbounded)."""
    results = {}
    purchases_per_match = prepare.SEATS // 2  # every purchase holds two seats
    seconds = min(budget["overload_s"], round(OVERLOAD_MATCH_SHARE * purchases_per_match / (OVERLOAD_SHARE * peak), 1))
    limit = _server_settings()["ticketing.max_queue_wait_ms"]
    results["overload_shed"] = run_paced("overload_shed", url, cluster, matches["overload_shed"], customers(), peak,
                                         OVERLOAD_SHARE, seconds, budget["max_requests"], OVERLOAD_IN_FLIGHT)
    results["overload_shed"]["wait_limit_ms"] = limit
    unstamped = nginx.Nginx(cluster.apps, name="nginx-unstamped", stamp=False)
    try:
        results["overload_unbounded"] = run_paced(
            "overload_unbounded", url, cluster, matches["overload_unbounded"], customers(), peak, OVERLOAD_SHARE,
            seconds, budget["max_requests"], OVERLOAD_IN_FLIGHT, via=unstamped, shedding=False)
        results["overload_unbounded"]["wait_limit_ms"] = 0
    finally:
        unstamped.stop()
    return results


def run_queue_rush(url, cluster, matches, token_settings, staff_token, budget, smoke):
    """20,000 fans arrive within 10 s for a 5,000-seat match: through the waiting room (sales
    open 5 s into the arrivals), then the same crowd straight at the seats (decision 0037)."""
    from bench import queue_rush

    fans_count = 2000 if smoke else QUEUE_FANS
    log(f"queue_rush: preparing {fans_count} fans")
    fan_ids = prepare.create_users(url, fans_count, "customer", prepare.WALLET_BALANCE)
    fans = prepare.issue_tokens(token_settings, fan_ids)
    out = {}
    for name, with_room in (("queue_rush", True), ("queue_rush_without", False)):
        match_id = matches[name]
        if with_room:
            prepare.api(cluster.base, "PUT", f"/matches/{match_id}/waiting-room",
                        {"enabled": True, "mode": "adaptive", "max_shopping": QUEUE_MAX_SHOPPING,
                         "shopping_seconds": 120}, staff_token)
        environment.vacuum(url)
        log(f"{name}: {fans_count} fans arrive within {QUEUE_ARRIVAL_SECONDS}s"
            + (f", sales open {QUEUE_OPENS_AFTER_SECONDS}s in, through the waiting room" if with_room else
               ", straight at the seats"))
        access_log = cluster.proxy.access_log
        since = len(access_log.read_text().splitlines()) if access_log.exists() else 0
        # The opening is set last, just before the first fan: the set-up above takes its time.
        opens = prepare.open_sales_in(url, match_id, QUEUE_OPENS_AFTER_SECONDS) if with_room else None
        with CpuMeter(cluster.apps) as meter:
            crowd = queue_rush.run(cluster.base, match_id, fans, QUEUE_ARRIVAL_SECONDS, budget["deadline_s"] + 60,
                                   with_room, opens_at=opens.timestamp() if opens else None)
        result = {"scenario": name, "match_id": match_id, "waiting_room": with_room,
                  **queue_rush.summarize(crowd, QUEUE_ARRIVAL_SECONDS), "cpu": meter.result()}
        if with_room:
            result["pace"] = {"mode": "adaptive", "max_shopping": QUEUE_MAX_SHOPPING}
            result["fairness"] = checks.queue_fairness(url, match_id)
            polls = cache_statuses(access_log, since, f"GET /api/v1/matches/{match_id}/queue ")
            # HIT: from the cache; UPDATING: the previous answer while one request refreshes it.
            answered_by_nginx = polls.get("HIT", 0) + polls.get("UPDATING", 0)
            result["polls_by_cache_status"] = polls
            result["polls_answered_by_nginx"] = round(answered_by_nginx / max(1, sum(polls.values())), 4)
        result["after"] = checks.check(url, match_id, [], prepare.SEATS)
        log(f"  {result['purchases']} purchases, sold out at {result['sold_out_at_s']} s, 5xx {result['http_5xx']}, "
            f"joins/s {result.get('joins_per_s')}, queue wait {result.get('queue_wait_s')}, "
            f"fairness {result.get('fairness')}, invariants {result['after']['invariants']}")
        out[name] = result
    return out


def run_one_process(url, run_secrets, matches, customers, budget, only):
    """The secondary rows: one process through nginx, and the same process without nginx."""
    out = {}
    single = Cluster(url, run_secrets, 1, "app1")
    try:
        loadgen.run_scenario("best_available", single.base, matches["warmup_1proc"], customers(), 16, 3, 1500)
        if "one_process" in only:
            for concurrency in (64, 256):
                name = f"sellout_c{concurrency}_1proc"
                out[name] = run_loadgen(name, "best_available", url, single, matches[name], customers(),
                                        concurrency, budget["deadline_s"], budget["max_requests"])
        if "direct" in only:
            out["sellout_c256_direct"] = run_loadgen(
                "sellout_c256_direct", "best_available", url, single.apps[0], matches["sellout_c256_direct"],
                customers(), 256, budget["deadline_s"], budget["max_requests"])
    finally:
        single.stop()
    return out


def run_metrics_overhead(url, run_secrets, matches, customers, budget):
    """Purchases/s of the same 64-buyer sell-out through nginx in front of 2 processes with
    metrics on (multiprocess mode, /metrics scraped every METRICS_SCRAPE_EVERY_S) and off
    (``TICKETING_METRICS=0``), one after the other in the same run (issue 30)."""
    import tempfile
    import threading
    import urllib.request

    out = {}
    for variant in ("on", "off"):
        directory = tempfile.mkdtemp(prefix="ticketing-metrics-")
        env = {"TICKETING_METRICS": "1", "PROMETHEUS_MULTIPROC_DIR": directory} if variant == "on" \
            else {"TICKETING_METRICS": "0"}
        cluster = Cluster(url, run_secrets, 2, f"metrics_{variant}", env=env)
        stop, scrapes = threading.Event(), []

        def scraper():
            while not stop.wait(METRICS_SCRAPE_EVERY_S):
                started = time.monotonic()
                with urllib.request.urlopen(cluster.base + "/metrics", timeout=10) as response:
                    response.read()
                scrapes.append(time.monotonic() - started)

        try:
            loadgen.run_scenario("best_available", cluster.base, matches[f"warmup_metrics_{variant}"], customers(),
                                 16, 3, 1500)
            thread = threading.Thread(target=scraper, daemon=True)
            if variant == "on":
                thread.start()
            name = f"sellout_c64_metrics_{variant}"
            out[name] = run_loadgen(name, "best_available", url, cluster, matches[name], customers(), 64,
                                    budget["deadline_s"], budget["max_requests"])
            stop.set()
            if variant == "on":
                thread.join(timeout=15)
                out[name]["scrapes"] = len(scrapes)
                out[name]["scrape_ms_max"] = round(1000 * max(scrapes), 1) if scrapes else None
        finally:
            stop.set()
            cluster.stop()
    on, off = out["sellout_c64_metrics_on"], out["sellout_c64_metrics_off"]
    if off.get("purchases_per_s"):
        on["purchases_per_s_vs_off"] = round(on["purchases_per_s"] / off["purchases_per_s"], 3)
    log(f"metrics overhead: {on['purchases_per_s']}/s with metrics (scraped every {METRICS_SCRAPE_EVERY_S}s), "
        f"{off['purchases_per_s']}/s without")
    return out


def _server_settings():
    import plaster

    loader = plaster.get_loader(str(environment.INI), protocols=["wsgi"])
    server = loader.get_settings("server:main", defaults={"http_port": "0"})
    app = loader.get_settings("app:main")
    return {
        "ini": "production.ini",
        "server": server.get("use"),
        "threads": int(server.get("threads", 4)),
        "connection_limit": int(server.get("connection_limit", 100)),
        "sqlalchemy.pool_size": int(app.get("sqlalchemy.pool_size", 5)),
        "sqlalchemy.max_overflow": int(app.get("sqlalchemy.max_overflow", 10)),
        "ticketing.gc_freeze": app.get("ticketing.gc_freeze", "false"),
        "ticketing.max_queue_wait_ms": int(app.get("ticketing.max_queue_wait_ms", 0)),
    }


if __name__ == "__main__":
    try:
        main()
    except checks.InvariantBroken as broken:
        fail(str(broken))
