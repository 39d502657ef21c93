"""Render docs/performance.md and docs/perf/*.svg from bench/results/latest.json.

    python -m bench.report            # re-render from the committed results

``bench/results/baseline.json`` (the same benchmark on the code before the hot-path work,
kept for the record) adds the before/after table when it is present.
"""
import json
from pathlib import Path

from bench import svg
from bench.ratios import bare_view_rps

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "performance.md"
PICTURES = ROOT / "docs" / "perf"
PROFILE = RESULTS / "profile.md"


def _ms(value):
    return "–" if value is None else f"{value:g}"


def _threads(scenario, each):
    """The threads of a scenario's app processes, for those that recorded them (round 10 on)."""
    threads = scenario.get("threads_per_process")
    return f" ({threads} threads{each})" if threads else ""


def _statuses(statuses):
    return ", ".join(f"{code}: {count}" for code, count in statuses.items())


def _type(scenario, kind):
    return scenario.get("by_type", {}).get(kind, {})


def charts(results):
    PICTURES.mkdir(parents=True, exist_ok=True)
    s = results["scenarios"]
    sellouts = [name for name in ("sellout_c16", "sellout_c64", "sellout_c256") if name in s]
    groups = [f"C = {s[name]['concurrency']}" for name in sellouts]
    lines = []
    ceiling = results.get("ratios", {}).get("pgbench_tps", results.get("ratios", {}).get("pgbench_tps_best"))
    pg = [ceiling] if ceiling else []
    if "pgbench_app_path_c16" in s:
        tps = s["pgbench_app_path_c16"]["tps"]
        lines.append((f"pgbench app_path.sql, 16 clients: {tps:g}/s", tps, "#3a9a4a"))
    if pg:
        lines.append((f"pgbench hot_path.sql, 16 clients: {max(pg):g}/s", max(pg), "#b8323a"))
        lines.append((f"target 0.5 x pgbench: {max(pg) / 2:g}/s", max(pg) / 2, "#7a4fa0"))
    files = {}
    if sellouts:
        bars = [s[name]["purchases_per_s"] for name in sellouts]
        bars_groups = list(groups)
        for name, label in (("sellout_c64_2proc", "C = 64, 2 app processes"),
                            ("sellout_c256_2proc", "C = 256, 2 app processes"),
                            ("sellout_c64_nginx_1proc", "C = 64, nginx, 1 process"),
                            ("sellout_c64_nginx_2proc", "C = 64, nginx, 2 processes")):
            if name in s:
                bars_groups.append(label)
                bars = bars + [s[name]["purchases_per_s"]]
        files["throughput.svg"] = svg.grouped_bars(
            "Sell-out of 5,000 seats: completed purchases/s by concurrency",
            bars_groups, ["purchases/s (app)"], [bars], "purchases per second", lines=lines)
        series, values = [], []
        for kind in ("hold", "checkout"):
            for pct in ("p50", "p95", "p99"):
                series.append(f"{kind} {pct}")
                values.append([_type(s[name], kind).get(f"{pct}_ms") for name in sellouts])
        files["latency.svg"] = svg.grouped_bars(
            "Sell-out: latency percentiles per request type (ms)", groups, series, values, "milliseconds",
            lines=[("target p99 100 ms", 100, "#b8323a")])
    reads = [(label, s[name]["requests_per_s"]) for label, name in
             (("seat map 200", "seat_map_200"), ("seat map 304", "seat_map_304"),
              ("seat map 304, database path", "seat_map_304_db"), ("bare Pyramid view", "bare_view"),
              ("bare view, after the 304s", "bare_view_after"))
             if name in s]
    if reads:
        lines = []
        if bare_view_rps(s):
            lines.append(("target: 0.8 x bare", 0.8 * bare_view_rps(s), "#7a4fa0"))
        files["reads.svg"] = svg.grouped_bars(
            "GET at concurrency 64 (wrk): requests/s", [label for label, _ in reads], ["requests/s"],
            [[value for _, value in reads]], "requests per second", lines=lines)
    overload = [(name, s[name]) for name in ("overload_shed", "overload_unbounded") if name in s]
    if overload and all(x.get("paid_purchase_ms") for _, x in overload):
        labels = [f"wait limit {x['wait_limit_ms'] / 1000:g} s" if x.get("wait_limit_ms") else "no wait limit"
                  for _, x in overload]
        files["overload.svg"] = svg.grouped_bars(
            "Twice the peak: a paid purchase's time, hold sent to payment answered (s)", labels,
            ["p50", "p95", "p99"], [[x["paid_purchase_ms"][p] / 1000 for _, x in overload] for p in ("p50", "p95", "p99")],
            "seconds", value_format="{:.1f}")
    for name, body in files.items():
        (PICTURES / name).write_text(body)
    return files


def render(results, baseline=None):
    if baseline is None and (RESULTS / "baseline.json").exists():
        baseline = json.loads((RESULTS / "baseline.json").read_text())
    pictures = charts(results)
    s = results["scenarios"]
    m = results["machine"]
    pg = results.get("postgresql", {})
    server = results.get("app_server", {})
    r = results.get("ratios", {})
    out = []
    w = out.append
    w("# Performance: the rush on one match")
    w("")
    w("<!-- Rendered by `python -m bench.report` from bench/results/latest.json; edit bench/report.py, not this file. -->")
    w("")
    w(f"Measured {results['generated_at']} by `{results['command']}` (whole run {results['total_seconds']} s), "
      "on this machine, with the load generator on the same 2 cores:")
    w("")
    w("| machine | |")
    w("| --- | --- |")
    w(f"| CPU | {m['cpu_model']}, {m['cores']} cores |")
    w(f"| RAM | {m['ram_gib']} GiB |")
    w(f"| PostgreSQL | {pg.get('version')} (fsync {pg.get('fsync')}, synchronous_commit {pg.get('synchronous_commit')}, "
      f"max_connections {pg.get('max_connections')}) |")
    w(f"| Python | {m['python']}, kernel {m['kernel']} |")
    w(f"| app | one waitress process from `production.ini`: {server.get('threads')} threads, "
      f"pool {server.get('sqlalchemy.pool_size')} + {server.get('sqlalchemy.max_overflow')} overflow"
      + (f", GIL switch interval {server['gil_switch_interval_ms']:g} ms (decision 0032)"
         if "gil_switch_interval_ms" in server else "") + " |")
    if server.get("scale_out_threads"):
        w(f"| app, scale-out | each of several processes as `deploy/README.md` runs them: "
          f"{server['scale_out_threads']} threads, the same pool (decision 0028) |")
    w("")
    for rerun in results.get("partial_reruns", []):
        w(f"Re-measured later on the same machine, the rest of this page unchanged: "
          f"{', '.join(rerun['scenarios']) or 'nothing'} at {rerun['generated_at']} by `{rerun['command']}` "
          f"({rerun['total_seconds']} s)" + (f"; skipped: {'; '.join(rerun['skipped'].values())}"
                                             if rerun.get("skipped") else "") + ".")
        w("")
    w("## How to run it")
    w("")
    w("```sh")
    w("make bench     # installs the 'bench' extra (uvloop, psutil), then python -m bench.rush")
    w("```")
    w("")
    w("Needs `wrk` and `pgbench` (Debian: `apt-get install -y wrk postgresql-client`; `nginx` too for the "
      "scale-out through nginx, which is skipped with a logged reason without it) and a PostgreSQL: "
      "`BENCH_DATABASE_SERVER`, else 127.0.0.1:5432, else the embedded cluster. One run takes five to ten "
      "minutes (by the machine) and:")
    w("")
    w("1. creates a fresh database `ticketing_bench_<timestamp>`, migrates it with "
      "`alembic -c production.ini upgrade head`, and drops it at the end;")
    w("2. starts the app the production way: `production.ini` (pool, timeouts, logging, waitress threads) with "
      "generated `TICKETING_JWT_SECRET`, `TICKETING_SESSION_SECRET`, `TICKETING_TICKET_SIGNING_KEY` and "
      "`DATABASE_URL` in the environment, on 127.0.0.1 and a free port (`bench/serve.py` is `pserve` with the "
      "listen address overridden). Per-IP request limits are switched off because every fan of the benchmark "
      "comes from 127.0.0.1; per-user limits stay on;")
    w(f"3. prepares, untimed, through the API as staff would: a stadium of {results['setup']['layout']}, and one "
      "published match of 5,000 seats in 3 price categories per scenario; then "
      f"{results['setup']['customers']} customers with funded wallets in bulk SQL and access tokens signed with "
      "the run's secret;")
    w("4. runs the scenarios below. Each stops by itself (sold out, a deadline, or a request budget), sends load "
      "only to 127.0.0.1, and is followed by the invariant checks of `tests/invariants.py` plus \"every 2xx "
      "checkout the client saw is a stored paid order with its tickets\" and \"the match's seat counts add up\": "
      "a broken invariant stops the run with exit status 1;")
    w("5. writes `bench/results/latest.json` and renders this page and `docs/perf/*.svg` from it.")
    w("")
    w("Buyers behave like the shop client: `POST /matches/{id}/holds` then `POST /holds/{id}/checkout` with an "
      "`Idempotency-Key`; every purchase is made by the next fan of the pool, so wallets, per-fan limits and "
      "idempotency keys are all exercised. Latency is client-side, from sending the request to the last byte.")
    w("")
    w("## Against the targets")
    w("")
    w("| target | measured | verdict |")
    w("| --- | --- | --- |")
    if "app_over_pgbench" in r:
        ratio = r["app_over_pgbench"]
        two = (f"; two app processes: **{r['app_2proc_over_pgbench']:.2f}**"
               if "app_2proc_over_pgbench" in r else "")
        prepared = (f"; against the hot path prepared (no planning, as the app): {r['app_purchases_per_s_best']:g} / "
                    f"{r['pgbench_prepared_tps']:g} = **{r['app_over_pgbench_prepared']:.2f}**"
                    if "app_over_pgbench_prepared" in r else "")
        w(f"| purchases/s ≥ 0.5 × pgbench hot-path tps (stretch) | one app process: {r['app_purchases_per_s_best']:g} / "
          f"{r.get('pgbench_tps', r.get('pgbench_tps_best')):g}{_runs(r)} = **{ratio:.2f}**{two}{prepared} | "
          f"{'met' if max(ratio, r.get('app_2proc_over_pgbench', 0)) >= 0.5 else 'not met'} |")
    for name, processes in (("sellout_c256", "1 app process"), ("sellout_c256_2proc", "2 app processes")):
        if name not in s:
            continue
        c256 = s[name]
        seconds = c256.get("last_purchase_at_s")
        ok = c256["after"]["sold"] == 5000 and seconds is not None and seconds <= 10 and c256["http_5xx"] == 0
        w(f"| 5,000 seats sold out by 256 buyers in ≤ 10 s, 0 5xx, invariants intact ({processes}) | "
          f"{c256['after']['sold']} sold in {seconds} s, {c256['http_5xx']} 5xx, invariants "
          f"{c256['after']['invariants']} | {'met' if ok else 'not met'} |")
    p99 = _p99_at_80_percent(s)
    if p99:
        name, rate, peak, hold99, checkout99 = p99
        ok = max(hold99, checkout99) <= 100
        w(f"| p99 ≤ 100 ms at 80 % of peak purchase rate | {name}: {rate:g}/s of a {peak:g}/s peak, p99 hold "
          f"{hold99:g} ms, checkout {checkout99:g} ms | {'met' if ok else 'not met'} |")
    if "seat_map_304_over_bare" in r:
        ratio = r["seat_map_304_over_bare"]
        db_path = ""
        if "seat_map_304_db" in s:
            db_rate = s["seat_map_304_db"]["requests_per_s"]
            db_path = (f" (fast path, decision 0014; with every poll asking the database {db_rate:g} = "
                       f"{db_rate / bare_view_rps(s):.2f})")
        bare = f"{bare_view_rps(s):g}"
        if "bare_view_after" in s:
            bare += (f" (mean of {s['bare_view']['requests_per_s']:g} right before and "
                     f"{s['bare_view_after']['requests_per_s']:g} right after the 304s)")
        w(f"| seat map with 304s ≥ 0.8 × bare Pyramid JSON view | {s['seat_map_304']['requests_per_s']:g} / "
          f"{bare} = **{ratio:.2f}**{db_path} | {'met' if ratio >= 0.8 else 'not met'} |")
    w("")
    if baseline:
        _before_after(w, baseline, results)
    w("## 1. Sell-out, best available (hold quantity 2 → checkout, until sold out)")
    w("")
    if "throughput.svg" in pictures:
        w("![purchases/s by concurrency](perf/throughput.svg)")
        w("")
    w("| buyers | purchases/s | seats/s | sold | time to sell out | stop | hold p50 / p95 / p99 ms | "
      "checkout p50 / p95 / p99 ms | statuses | server CPU s (ms/purchase) | load gen CPU s | PostgreSQL CPU s | "
      "machine busy CPU s (of wall × cores; other processes) |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in ("sellout_c16", "sellout_c64", "sellout_c256", "sellout_c64_2proc", "sellout_c256_2proc", *NGINX):
        if name not in s:
            continue
        x = s[name]
        hold, checkout = _type(x, "hold"), _type(x, "checkout")
        processes = x.get("app_processes", 1)
        if x.get("via"):
            buyers = f"{x['concurrency']} through nginx ({processes} app process{'es' if processes > 1 else ''})"
        else:
            buyers = f"{x['concurrency']}" + (f" ({processes} app processes)" if processes > 1 else "")
        statuses = "; ".join(f"{kind}: {_statuses(_type(x, kind).get('statuses', {}))}" for kind in x["by_type"])
        sold_out = x.get("last_purchase_at_s") if x["after"]["sold"] == 5000 else None
        w(f"| {buyers} | {x['purchases_per_s']:g} | {x['seats_per_s']:g} | {x['after']['sold']} | "
          f"{'%g s' % sold_out if sold_out else 'not sold out'} | {x['stop_reason']} | "
          f"{_ms(hold.get('p50_ms'))} / {_ms(hold.get('p95_ms'))} / {_ms(hold.get('p99_ms'))} | "
          f"{_ms(checkout.get('p50_ms'))} / {_ms(checkout.get('p95_ms'))} / {_ms(checkout.get('p99_ms'))} | "
          f"{statuses} | {x['cpu']['server_cpu_seconds']:g} ({x.get('server_cpu_ms_per_purchase', '–')}) | "
          f"{x['cpu']['loadgen_cpu_seconds']:g} | {x['cpu']['postgres_cpu_seconds']:g} | "
          f"{x['cpu']['machine_busy_cpu_seconds']:g} of {x['cpu']['wall_seconds'] * x['cpu']['machine_cores']:.0f}; "
          f"{x['cpu'].get('other_cpu_seconds', 0):g} |")
    w("")
    if "two_processes_over_one_c64" in r:
        threads = results.get("app_server", {}).get("scale_out_threads")
        configured = (f"each with {threads} threads as `deploy/README.md` runs several on one host"
                      if threads else "identical")
        w(f"Scale-out: two app processes ({configured}) on the same database, buyers spread over both as a "
          f"round-robin balancer would, give **{r['two_processes_over_one_c64']:.2f}×** the purchases/s of one "
          f"process at 64 buyers (on these 2 cores, shared with PostgreSQL and the load generator).")
        w("")
    if all(name in s for name in NGINX):
        one, two = (s[name] for name in NGINX)
        ratio = r.get("nginx_two_processes_over_one_c64")
        w(f"Scale-out through nginx (`deploy/nginx.conf`, run by `bench/nginx.py` on a free 127.0.0.1 port with "
          f"its own prefix; waitress trusting its X-Forwarded-* headers as `deploy/README.md` says): "
          f"64 buyers, every request through nginx with keep-alive to the upstreams, "
          f"**{one['purchases_per_s']:g}** purchases/s with 1 app process{_threads(one, '')} and "
          f"**{two['purchases_per_s']:g}** with 2{_threads(two, ' each')}"
          + (f", **{ratio:.2f}×**" if ratio is not None else "")
          + f". nginx itself used {one['cpu'].get('proxy_cpu_seconds', 0):g} and "
          f"{two['cpu'].get('proxy_cpu_seconds', 0):g} CPU s; the app processes {one['cpu']['server_cpu_seconds']:g} "
          f"and {two['cpu']['server_cpu_seconds']:g}, PostgreSQL {one['cpu']['postgres_cpu_seconds']:g} and "
          f"{two['cpu']['postgres_cpu_seconds']:g}, all on the same 2 cores. Run only these with "
          f"`python -m bench.rush --only nginx` (needs `apt-get install -y nginx`; skipped with a logged reason "
          f"without it).")
        w("")
    elif "nginx" in results.get("skipped", {}):
        w(f"Scale-out through nginx: not measured in this run ({results['skipped']['nginx']}).")
        w("")
    if "latency.svg" in pictures:
        w("![latency percentiles](perf/latency.svg)")
        w("")
    paced = sorted((x for name, x in s.items() if name.startswith("paced_")), key=lambda x: x["share_of_peak"])
    if paced:
        w("### Latency against load (open loop)")
        w("")
        w(f"A closed loop of buyers measures the queue it builds itself (256 buyers at ~150 purchases/s wait "
          f"~1.7 s each, by Little's law). Here purchases (hold of 2 → checkout, each by the next customer) "
          f"*start* at a fixed rate, a share of this run's {paced[0]['peak_purchases_per_s']:g}/s closed-loop peak, "
          f"for {paced[0]['wall_seconds']:.0f} s each, whatever the latency, as fans arrive; each run on a fresh "
          f"match after an untimed `VACUUM ANALYZE`. Latency is from sending to the last byte; a start the client "
          f"itself could not make on time is counted as late.")
        w("")
        w("| share of peak | started / achieved purchases/s | late starts | hold p50 / p95 / p99 ms | "
          "checkout p50 / p95 / p99 ms | 5xx | app / PostgreSQL CPU ms per purchase |")
        w("| --- | --- | --- | --- | --- | --- | --- |")
        for x in paced:
            hold, checkout = _type(x, "hold"), _type(x, "checkout")
            n = max(1, x["purchases"])
            w(f"| {x['share_of_peak']:.0%} | {x['target_purchases_per_s']:g} / {x['purchases_per_s']:g} | "
              f"{x['late_starts']} | {_ms(hold.get('p50_ms'))} / {_ms(hold.get('p95_ms'))} / {_ms(hold.get('p99_ms'))} | "
              f"{_ms(checkout.get('p50_ms'))} / {_ms(checkout.get('p95_ms'))} / {_ms(checkout.get('p99_ms'))} | "
              f"{x['http_5xx']} | {1000 * x['cpu']['server_cpu_seconds'] / n:.1f} / "
              f"{1000 * x['cpu']['postgres_cpu_seconds'] / n:.1f} |")
        w("")
        w("Open arrivals have no backpressure: near the capacity a hiccup raises the number of requests in "
          "flight, each on its own connection, and waitress's per-connection work grows with them. A closed "
          "loop (a fixed set of connections, each always busy, PostgreSQL committing them in groups) is the "
          "most efficient regime, so its peak is above what open arrivals sustain; see the profile notes below.")
        w("")
    overload = [s[name] for name in ("overload_shed", "overload_unbounded") if name in s]
    if overload:
        _overload_section(w, overload)
        if "overload.svg" in pictures:
            w("![paid purchase time at twice the peak](perf/overload.svg)")
            w("")
    if "chosen_c64" in s:
        x = s["chosen_c64"]
        w("## 2. Chosen seats with collisions (64 buyers, each picking from the map it last fetched)")
        w("")
        w("Each buyer fetches the seat map (with `If-None-Match` once it has one), picks two neighbouring seats "
          "at a random place of it, and keeps picking from that map until the server answers 409; then it "
          "fetches the map again. Maps go stale within milliseconds, so buyers collide.")
        w("")
        _per_type_table(w, x)
        holds = _type(x, "hold").get("statuses", {})
        attempts = sum(holds.values())
        w("")
        w(f"{x['purchases']} purchases ({x['purchases_per_s']:g}/s, {x['seats_per_s']:g} seats/s) in "
          f"{x['wall_seconds']:g} s (stop: {x['stop_reason']}); {holds.get('409', 0)} of {attempts} holds "
          f"collided (409 naming the taken seats). Sold afterwards: {x['after']['sold']}; invariants "
          f"{x['after']['invariants']}. CPU: server {x['cpu']['server_cpu_seconds']:g} s, load generator "
          f"{x['cpu']['loadgen_cpu_seconds']:g} s, PostgreSQL {x['cpu']['postgres_cpu_seconds']:g} s.")
        w("")
    w("## 3. Seat map reads (wrk, 64 connections)")
    w("")
    if "reads.svg" in pictures:
        w("![seat map and bare view requests/s](perf/reads.svg)")
        w("")
    w("| what | requests/s | MiB/s | p50 / p95 / p99 ms | statuses | server CPU s | wrk CPU s |")
    w("| --- | --- | --- | --- | --- | --- | --- |")
    for label, name in (("seat map, full body (200)", "seat_map_200"),
                        ("seat map, If-None-Match (304)", "seat_map_304"),
                        ("seat map, If-None-Match (304), fast path off: every poll asks the database",
                         "seat_map_304_db"),
                        ("bare Pyramid JSON view" + (", right before the 304s" if "bare_view_after" in s else ""),
                         "bare_view"),
                        ("bare Pyramid JSON view, right after the 304s", "bare_view_after")):
        if name in s:
            x = s[name]
            w(f"| {label} | {x['requests_per_s']:g} | {x['mib_per_s']:g} | {x['p50_ms']:g} / {x['p95_ms']:g} / "
              f"{x['p99_ms']:g} | {_statuses(x['statuses'])} | {x['cpu']['server_cpu_seconds']:g} | "
              f"{x['cpu']['loadgen_cpu_seconds']:g} |")
    w("")
    if "mixed_c64" in s:
        x = s["mixed_c64"]
        w("## 4. Mixed: 90 % seat-map polls, 10 % purchases (64 users)")
        w("")
        w("Each user polls the map with the ETag it last saw (so a 200 only when something changed) nine times "
          "in ten, and buys two best-available seats the tenth.")
        w("")
        _per_type_table(w, x)
        w("")
        w(f"{x['requests_per_s']:g} requests/s in {x['wall_seconds']:g} s, {x['purchases']} purchases "
          f"({x['purchases_per_s']:g}/s); invariants {x['after']['invariants']}.")
        w("")
    w("## The ceilings: PostgreSQL alone, and a bare Pyramid view")
    w("")
    w("Two pgbench scripts, each run of a script being one purchase of two best-available seats, run with "
      "`pgbench -M simple` (pgbench's default, which the issue's figures used; every statement is planned on "
      "every call) on their own fresh 5,000-seat match with a fixed number of purchases that cannot run out of "
      "seats. The hot path runs once more with `-M prepared`, planned once per connection as the app's "
      "statements are (decision 0017): the database's ceiling without planning, a stricter yardstick for the "
      "Python tier, shown beside the headline ratio:")
    w("")
    w("- `bench/hot_path.sql`, the ceiling of the headline ratio: the claim-and-sell SQL alone, in one "
      "transaction: the fan's wallet lock, the claim with the same CTE as `holds.py` (first free seats in "
      "layout order, `FOR UPDATE SKIP LOCKED`), the hold row, the order, the debit with its ledger row, the "
      "tickets, the seats sold, the seat-version bump; run at 16 and 64 clients before the app's scenarios and "
      "at 16 again right after its sell-outs: the headline ratio divides by the mean of the two 16-client runs, "
      "because this shared machine's speed drifts within minutes;")
    w("- `bench/app_path.sql`: every statement the app sends for the same purchase, in its two transactions "
      "(hold, then checkout), with the per-user rate-limit counters, the idempotency key and traversal's row "
      "with the caller's role, sent as text (the app prepares them). Its gap to `hot_path.sql` is the price of the app's SQL; the gap "
      "between it and the app is the price of Python.")
    w("")
    w("| script | mode | clients | purchases/s (tps) | seats/s | avg latency ms | purchases | failed | PostgreSQL CPU s | pgbench CPU s |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in ("pgbench_c16", "pgbench_c64", "pgbench_app_path_c16", "pgbench_c16_prepared", "pgbench_c16_after"):
        if name in s:
            x = s[name]
            w(f"| `{x.get('script', 'bench/hot_path.sql')}` | {x.get('mode', 'simple')} | {x['clients']} | {x['tps']:g} | {x['seats_per_s']:g} | "
              f"{x['latency_avg_ms']:g} | {x['purchases']} | {x['failed']} | {x['cpu']['postgres_cpu_seconds']:g} | "
              f"{x['cpu']['loadgen_cpu_seconds']:g} |")
    w("")
    if "app_over_pgbench_app_path_c16" in r:
        w(f"App at 16 buyers ÷ `app_path.sql` at 16 clients: **{r['app_over_pgbench_app_path_c16']:.2f}** "
          "(the share of the database's capacity for the app's own statements that the Python tier delivers).")
        w("")
    if "bare_view" in s:
        runs = ("" if "bare_view_after" not in s else
                f" (the mean of its runs right before and right after the seat map's 304s, "
                f"{s['bare_view']['requests_per_s']:g} and {s['bare_view_after']['requests_per_s']:g})")
        w(f"The bare view (`bench/bare_app.py`: one Pyramid route returning a small JSON object, same waitress "
          f"settings) serves {bare_view_rps(s):g} requests/s{runs}.")
        w("")
    w("## Invariants after every scenario")
    w("")
    w("| scenario | available | held | sold | valid tickets | paid orders | 2xx checkouts seen by the client | invariants |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, x in s.items():
        after = x.get("after")
        if after:
            w(f"| {name} | {after['available']} | {after['held']} | {after['sold']} | {after['valid_tickets']} | "
              f"{after['paid_orders']} | {after['orders_seen_by_client']} | {after['invariants']} |")
    w("")
    if PROFILE.exists():
        w(PROFILE.read_text().rstrip())
        w("")
    DOC.write_text("\n".join(out) + "\n")


NGINX = ("sellout_c64_nginx_1proc", "sellout_c64_nginx_2proc")


def _overload_section(w, runs):
    first = runs[0]
    w("### Overload: twice the peak, with and without load shedding")
    w("")
    w(f"Purchases start at {first['target_purchases_per_s']:g}/s ({first['share_of_peak']:.0%} of the "
      f"{first['peak_purchases_per_s']:g}/s peak) for {first.get('arrival_seconds', first['wall_seconds']):g} s, "
      "at most "
      f"{first['max_in_flight']:,} in flight (one connection each, below `connection_limit`): more fans than "
      "the process can serve, as in the first minute of a final's sale (arrivals stop before they could "
      "sell the match out, so the overload is measured, not the end of a sale). First the production "
      "settings: an API "
      "request that waited longer than `ticketing.max_queue_wait_ms` for a thread is refused unstarted with a "
      "`503 service-busy` and `Retry-After`, checkouts go ahead of new work and wait three times as long "
      "(decision 0025). Then the same on "
      "a process with the limit off. Refused fans do not retry here, so the rows show what the process does "
      "with more arrivals than it can serve. Paid purchases per second count the whole run, until the "
      "last purchase in flight is answered; a paid purchase's time runs from sending the hold to the "
      "checkout's last byte.")
    w("")
    w("| wait limit | started / paid purchases/s | holds: created / refused (503) / other | paid purchase "
      "p50 / p99 / max ms | refusal p50 / p99 ms | checkouts refused | client errors | other 5xx | invariants |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for x in runs:
        holds = _type(x, "hold").get("statuses", {})
        created, refused = holds.get("201", 0), holds.get("503", 0)
        other = sum(n for status, n in holds.items() if status not in ("201", "503"))
        refusal = _type(x, "hold").get("latency_by_status", {}).get("503", {})
        paid = x.get("paid_purchase_ms", {})
        checkout_refused = _type(x, "checkout").get("statuses", {}).get("503", 0)
        other_5xx = x["http_5xx"] - refused - checkout_refused
        limit = f"{x['wait_limit_ms'] / 1000:g} s" if x.get("wait_limit_ms") else "off"
        w(f"| {limit} | {x['target_purchases_per_s']:g} / {x['purchases_per_s']:g} | {created} / {refused} / {other} | "
          f"{_ms(paid.get('p50'))} / {_ms(paid.get('p99'))} / {_ms(paid.get('max'))} | "
          f"{_ms(refusal.get('p50_ms'))} / {_ms(refusal.get('p99_ms'))} | {checkout_refused} | {x['client_errors']} | "
          f"{other_5xx} | {x['after']['invariants']} |")
    w("")


def _per_type_table(w, x):
    w("| request | count | per s | p50 / p95 / p99 ms | statuses |")
    w("| --- | --- | --- | --- | --- |")
    for kind, t in x["by_type"].items():
        w(f"| {kind} | {t['requests']} | {t['rate_per_s']:g} | {t['p50_ms']:g} / {t['p95_ms']:g} / {t['p99_ms']:g} | "
          f"{_statuses(t['statuses'])} |")


def _p99_at_80_percent(s):
    """p99s at 80 % of the peak: the paced (open-loop) run, else the closest closed-loop run."""
    if "paced_80" in s:
        x = s["paced_80"]
        return ("paced arrivals", x["purchases_per_s"], x["peak_purchases_per_s"],
                _type(x, "hold").get("p99_ms", 0), _type(x, "checkout").get("p99_ms", 0))
    runs = [(name, x) for name, x in s.items() if name in ("sellout_c16", "sellout_c64", "sellout_c256")]
    if not runs:
        return None
    peak = max(x["purchases_per_s"] for _, x in runs)
    name, x = min(runs, key=lambda item: abs(item[1]["purchases_per_s"] - 0.8 * peak))
    return name, x["purchases_per_s"], peak, _type(x, "hold").get("p99_ms", 0), _type(x, "checkout").get("p99_ms", 0)


def _runs(r):
    runs = r.get("pgbench_tps_runs", [])
    if len(runs) == 2:
        return f" (mean of {runs[0]:g} before and {runs[1]:g} after the sell-outs)"
    return ""


def _hot_path(results):
    """The run's hot-path tps: the mean of the runs around the sell-outs, or the one run."""
    ratios = results.get("ratios", {})
    return ratios.get("pgbench_tps") or ratios.get("pgbench_tps_best")


def _before_after(w, before, after):
    w("## Before and after the hot-path work")
    w("")
    w(f"Same command, same machine: before = the code at {before.get('code', 'an earlier commit')} "
      f"(measured {before['generated_at']}, `bench/results/baseline.json`), after = this run.")
    w("")
    speed_before, speed_after = _hot_path(before), _hot_path(after)
    if speed_before and speed_after and abs(speed_after / speed_before - 1) > 0.15:
        # Rates and CPU per purchase move with the machine's own speed; the ratio to the
        # hot path measured in the same run does not (much).
        w(f"**The machine itself ran at a different speed:** pgbench's hot path gave {speed_before:g} tps "
          f"before and {speed_after:g} tps after ({speed_after / speed_before:.2f}×). Rates and CPU per "
          f"purchase move with it; compare the ratio to the hot path (first row).")
        w("")
    w("| measure | before | after |")
    w("| --- | --- | --- |")
    ratio_before = before.get("ratios", {}).get("app_over_pgbench")
    ratio_after = after.get("ratios", {}).get("app_over_pgbench")
    if ratio_before is not None and ratio_after is not None:
        w(f"| best app purchases/s ÷ pgbench hot-path tps (same run) | {ratio_before:g} | {ratio_after:g} |")
    b, a = before["scenarios"], after["scenarios"]
    for name in ("sellout_c16", "sellout_c64", "sellout_c256", "sellout_c64_2proc", "sellout_c256_2proc", *NGINX):
        if name in b and name in a:
            w(f"| {name}: purchases/s | {b[name]['purchases_per_s']:g} | {a[name]['purchases_per_s']:g} |")
            w(f"| {name}: server CPU ms per purchase | {b[name].get('server_cpu_ms_per_purchase', '–')} | "
              f"{a[name].get('server_cpu_ms_per_purchase', '–')} |")
            w(f"| {name}: hold p99 / checkout p99 ms | {_type(b[name], 'hold').get('p99_ms')} / "
              f"{_type(b[name], 'checkout').get('p99_ms')} | {_type(a[name], 'hold').get('p99_ms')} / "
              f"{_type(a[name], 'checkout').get('p99_ms')} |")
            w(f"| {name}: sold | {b[name]['after']['sold']} | {a[name]['after']['sold']} |")
    for name in ("seat_map_200", "seat_map_304", "seat_map_304_db", "bare_view", "bare_view_after"):
        if name in b and name in a:
            w(f"| {name}: requests/s | {b[name]['requests_per_s']:g} | {a[name]['requests_per_s']:g} |")
    for name in ("chosen_c64", "mixed_c64"):
        if name in b and name in a:
            w(f"| {name}: purchases/s | {b[name]['purchases_per_s']:g} | {a[name]['purchases_per_s']:g} |")
    w("")


if __name__ == "__main__":
    render(json.loads((RESULTS / "latest.json").read_text()))
    print(f"wrote {DOC.relative_to(ROOT)} and {PICTURES.relative_to(ROOT)}/")
