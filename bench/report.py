"""Render docs/performance.md and docs/perf/*.svg from bench/results/latest.json.

    python -m bench.report            # re-render from the committed results

The lab notes (how figures were found, A/B tables) live in ``bench/results/*.md`` and are
linked from the page, not copied into it.
"""
import json
from pathlib import Path

from bench import svg
from bench.ratios import P99_TARGET_MS, POLLS_NGINX_SHARE_TARGET, POLLS_TARGET_PER_S, RATIO_FLOOR, SELL_OUT_TARGET_SECONDS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "performance.md"
PICTURES = ROOT / "docs" / "perf"
NOTES = ("production-path.md", "profile.md", "queue-rush.md", "replication.md", "growth.md")

SELL_OUT_ROWS = (
    ("sellout_c16", "16 buyers"), ("sellout_c64", "64 buyers"),
    ("sellout_c256_run1", "256 buyers, run 1"), ("sellout_c256_run2", "256 buyers, run 2"),
    ("sellout_c256_run3", "256 buyers, run 3"),
    ("sellout_c64_1proc", "64 buyers, 1 app process"), ("sellout_c256_1proc", "256 buyers, 1 app process"),
    ("sellout_c256_direct", "256 buyers, 1 app process without nginx"),
    # The scrape overhead (issue 30): the same sell-out with metrics on and /metrics scraped
    # every second, then off, in the same run.
    ("sellout_c64_metrics_on", "64 buyers, metrics on, scraped every second"),
    ("sellout_c64_metrics_off", "64 buyers, metrics off (same run)"),
)


def _ms(value):
    return "–" if value is None else f"{value:g}"


def _statuses(statuses):
    return ", ".join(f"{code}: {count}" for code, count in statuses.items())


def _type(scenario, kind):
    return scenario.get("by_type", {}).get(kind, {})


def _pct(scenario, kind):
    t = _type(scenario, kind)
    return f"{_ms(t.get('p50_ms'))} / {_ms(t.get('p95_ms'))} / {_ms(t.get('p99_ms'))}"


def _verdict(met):
    return "met" if met else "**not met**"


def charts(results):
    PICTURES.mkdir(parents=True, exist_ok=True)
    s = results["scenarios"]
    files = {}
    rows = [(label, s[name]) for name, label in SELL_OUT_ROWS if name in s]
    if rows:
        lines = []
        pg = results.get("ratios", {}).get("pgbench_tps")
        if pg:
            lines.append((f"pgbench hot_path.sql, 16 clients: {pg:g}/s", pg, "#b8323a"))
        target = 5000 / 2 / SELL_OUT_TARGET_SECONDS
        lines.append((f"a 10 s sell-out: {target:g}/s", target, "#7a4fa0"))
        files["throughput.svg"] = svg.grouped_bars(
            "Sell-out of 5,000 seats: completed purchases/s", [label for label, _ in rows],
            ["purchases/s"], [[x["purchases_per_s"] for _, x in rows]], "purchases per second", lines=lines)
        series, values = [], []
        for kind in ("hold", "checkout"):
            for pct in ("p50", "p99"):
                series.append(f"{kind} {pct}")
                values.append([_type(x, kind).get(f"{pct}_ms") for _, x in rows])
        files["latency.svg"] = svg.grouped_bars(
            "Sell-out: latency per request type (ms)", [label for label, _ in rows], series, values, "milliseconds",
            lines=[("target p99 at 80 % of the peak: 100 ms", P99_TARGET_MS, "#b8323a")])
    reads = [(label, s[name]["requests_per_s"]) for label, name in
             (("seat map 200, nginx", "seat_map_200"), ("seat map 304, nginx", "seat_map_304"),
              ("seat map 304, one process", "seat_map_304_direct")) if name in s]
    if reads:
        files["reads.svg"] = svg.grouped_bars(
            "Seat map polls (wrk): requests/s", [label for label, _ in reads], ["requests/s"],
            [[value for _, value in reads]], "requests per second",
            lines=[(f"target {POLLS_TARGET_PER_S:,}/s", POLLS_TARGET_PER_S, "#7a4fa0")])
    for name, body in files.items():
        (PICTURES / name).write_text(body)
    return files


def render(results):
    pictures = charts(results)
    s = results["scenarios"]
    m = results["machine"]
    pg = results.get("postgresql", {})
    server = results.get("app_server", {})
    r = results.get("ratios", {})
    out = []
    w = out.append
    w("# Performance: the rush on one match, through the production path")
    w("")
    w("<!-- Rendered by `python -m bench.report` from bench/results/latest.json; edit bench/report.py, not this file. -->")
    w("")
    w(f"Measured {results['generated_at']} by `{results['command']}` (whole run {results['total_seconds']} s), "
      "on this machine, with the load generator, nginx and PostgreSQL on the same 2 cores:")
    w("")
    w("| machine | |")
    w("| --- | --- |")
    w(f"| CPU | {m['cpu_model']}, {m['cores']} cores |")
    w(f"| RAM | {m['ram_gib']} GiB |")
    w(f"| PostgreSQL | {pg.get('version')} (fsync {pg.get('fsync')}, synchronous_commit {pg.get('synchronous_commit')}, "
      f"max_connections {pg.get('max_connections')}) |")
    w(f"| Python | {m['python']}, kernel {m['kernel']} |")
    w(f"| topology | `deploy/nginx.conf` in front of app processes, each `pserve production.ini http_port=…` on "
      f"stock waitress (`{server.get('server', 'egg:waitress#main')}`): {server.get('threads')} threads, pool "
      f"{server.get('sqlalchemy.pool_size')} + {server.get('sqlalchemy.max_overflow')} overflow, "
      f"`gc_freeze = {server.get('ticketing.gc_freeze')}` |")
    w("")
    for rerun in results.get("partial_reruns", []):
        w(f"Re-measured later on the same machine, the rest of this page unchanged: "
          f"{', '.join(rerun['scenarios']) or 'nothing'} at {rerun['generated_at']} by `{rerun['command']}`.")
        w("")
    w("## How to run it")
    w("")
    w("```sh")
    w("make bench     # installs the 'bench' extra (uvloop, psutil), then python -m bench.rush")
    w("```")
    w("")
    w("Needs Debian's `nginx`, `wrk` and `pgbench` (`apt-get install -y nginx wrk postgresql-client`) and a "
      "PostgreSQL: `BENCH_DATABASE_SERVER`, else 127.0.0.1:5432, else the embedded cluster. One run:")
    w("")
    w("1. creates a fresh database `ticketing_bench_<timestamp>`, migrates it with alembic, and drops it at the end;")
    w("2. starts the production topology: app processes exactly as `deploy/ticketing@.service` starts them "
      "(`pserve production.ini http_port=<port>`, generated secrets and `DATABASE_URL` in the environment) "
      "behind nginx running `deploy/nginx.conf` itself (`bench/nginx.py` only swaps the upstream ports, the "
      "listen address, the log and cache paths, and the per-address connection limit). Every fan of the "
      "benchmark comes from 127.0.0.1, so the per-address limits are lifted "
      "(`TICKETING_DISABLE_REQUEST_LIMITS=per-ip`, nginx's `limit_conn`); per-user limits stay on;")
    w(f"3. prepares, untimed, through the API as staff would: a stadium of {results['setup']['layout']}, one "
      f"published 5,000-seat match in 3 price categories per scenario, and {results['setup']['customers']} "
      "customers with funded wallets (bulk SQL) and access tokens signed with the run's secret;")
    w("4. runs the scenarios below. Each stops by itself (sold out, a deadline, or a request budget), sends load "
      "only to 127.0.0.1, and is followed by the invariant checks of `tests/invariants.py` plus \"every 2xx "
      "checkout the client saw is a stored paid order with its tickets\" and \"the match's seat counts add up\": "
      "a broken invariant stops the run with exit status 1;")
    w("5. writes `bench/results/latest.json` and renders this page and `docs/perf/*.svg` from it.")
    w("")
    w("Buyers behave like the shop client: `POST /matches/{id}/holds` (2 best-available seats) then "
      "`POST /holds/{id}/checkout` with an `Idempotency-Key`; every purchase is made by the next fan of the "
      "pool; a refused hold (503 or 429) is tried again after its `Retry-After`, as docs/api.md tells "
      "clients. Latency is client-side, from sending the request to the last byte.")
    w("")
    _targets(w, s, r)
    w("## 1. Sell-out, best available")
    w("")
    w("Through nginx in front of 2 app processes unless the row says otherwise.")
    w("")
    if "throughput.svg" in pictures:
        w("![purchases/s](perf/throughput.svg)")
        w("")
    w("| run | purchases/s | sold | time to sell out | hold p50 / p95 / p99 ms | checkout p50 / p95 / p99 ms | "
      "5xx | CPU ms per purchase: app / PostgreSQL / nginx | machine busy CPU s of wall × cores |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, label in SELL_OUT_ROWS:
        if name not in s:
            continue
        x = s[name]
        n = max(1, x["purchases"])
        cpu = x["cpu"]
        sold_out = x.get("last_purchase_at_s") if x["after"]["available"] == 0 else None
        w(f"| {label} | {x['purchases_per_s']:g} | {x['after']['sold']} | "
          f"{'%g s' % sold_out if sold_out else 'not sold out'} | {_pct(x, 'hold')} | {_pct(x, 'checkout')} | "
          f"{x['http_5xx']} | {1000 * cpu['server_cpu_seconds'] / n:.1f} / {1000 * cpu['postgres_cpu_seconds'] / n:.1f}"
          f" / {1000 * cpu.get('proxy_cpu_seconds', 0) / n:.1f} | "
          f"{cpu['machine_busy_cpu_seconds']:g} of {cpu['wall_seconds'] * cpu['machine_cores']:.0f} |")
    w("")
    if "two_processes_over_one" in r:
        w(f"Two app processes sell **{r['two_processes_over_one']:.2f}×** the purchases/s of one, on these 2 "
          "cores shared with PostgreSQL, nginx and the load generator.")
        w("")
    if "latency.svg" in pictures:
        w("![latency percentiles](perf/latency.svg)")
        w("")
    paced = sorted((x for name, x in s.items() if name.startswith("paced_")), key=lambda x: x["share_of_peak"])
    if paced:
        w("### Latency against load (open loop)")
        w("")
        w(f"Purchases *start* at a fixed rate, a share of this run's {paced[0]['peak_purchases_per_s']:g}/s "
          f"closed-loop peak, for {paced[0]['arrival_seconds']:g} s each, whatever the latency, as fans arrive.")
        w("")
        w("| share of peak | started / achieved purchases/s | late starts | hold p50 / p95 / p99 ms | "
          "checkout p50 / p95 / p99 ms | 5xx |")
        w("| --- | --- | --- | --- | --- | --- |")
        for x in paced:
            w(f"| {x['share_of_peak']:.0%} | {x['target_purchases_per_s']:g} / {x['purchases_per_s']:g} | "
              f"{x['late_starts']} | {_pct(x, 'hold')} | {_pct(x, 'checkout')} | {x['http_5xx']} |")
        w("")
    overload = [s[name] for name in ("overload_shed", "overload_unbounded") if name in s]
    if overload:
        _overload(w, overload)
    _reads(w, s, pictures)
    for name, title, text in (
            ("chosen_c64", "Chosen seats with collisions (64 buyers)",
             "Each buyer fetches the public seat map (through nginx's micro-cache: up to a second old), picks two "
             "neighbouring seats at a random place of it and buys them, until the server answers 409; then it "
             "fetches the map again."),
            ("mixed_c64", "Mixed: 90 % seat-map polls, 10 % purchases (64 users)",
             "Each user polls the map with the ETag it last saw nine times in ten, and buys two best-available "
             "seats the tenth.")):
        if name in s:
            x = s[name]
            w(f"## {title}")
            w("")
            w(text)
            w("")
            w("| request | count | per s | p50 / p95 / p99 ms | statuses |")
            w("| --- | --- | --- | --- | --- |")
            for kind, t in x["by_type"].items():
                w(f"| {kind} | {t['requests']} | {t['rate_per_s']:g} | {t['p50_ms']:g} / {t['p95_ms']:g} / "
                  f"{t['p99_ms']:g} | {_statuses(t['statuses'])} |")
            w("")
            w(f"{x['purchases']} purchases ({x['purchases_per_s']:g}/s) in {x['wall_seconds']:g} s; invariants "
              f"{x['after']['invariants']}.")
            w("")
    _queue_rush(w, s)
    _ceilings(w, s)
    _replication(w, s, results.get("skipped", {}).get("replication"))
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
    growth_results = RESULTS / "growth.json"
    if growth_results.exists():  # `make bench-growth`'s section, kept when this page is rendered again
        from bench import growth

        out.extend(["<!-- growth:start -->"] + growth.section(json.loads(growth_results.read_text()))
                   + ["<!-- growth:end -->", ""])
    w("## Lab notes")
    w("")
    w("How these figures were found, the A/B pairs behind each decision and the history of earlier rounds: "
      + ", ".join(f"[`bench/results/{note}`](../bench/results/{note})" for note in NOTES
                  if (RESULTS / note).exists()) + ".")
    w("")
    DOC.write_text("\n".join(out) + "\n")


def _targets(w, s, r):
    w("## Against the targets")
    w("")
    w("Through nginx, 2 app processes, this 2-core machine with the load generator on it.")
    w("")
    w("| target | measured | verdict |")
    w("| --- | --- | --- |")
    if "sell_out_c256_seconds" in r:
        runs = ", ".join(f"{_ms(t)} s" for t in r["sell_out_c256_seconds"])
        w(f"| 5,000 seats sold out to 256 buyers in ≤ {SELL_OUT_TARGET_SECONDS} s, 0 5xx, invariants intact, in "
          f"each of {len(r['sell_out_c256_seconds'])} consecutive runs | {runs}; 5xx "
          f"{', '.join(map(str, r['sell_out_c256_5xx']))} | {_verdict(r['sell_out_c256_met'])} |")
    if "p99_at_80_percent_ms" in r:
        x = s["paced_80"]
        p99 = r["p99_at_80_percent_ms"]
        w(f"| p99 ≤ {P99_TARGET_MS} ms for holds and checkouts at 80 % of the peak rate | "
          f"{x['purchases_per_s']:g}/s of a {x['peak_purchases_per_s']:g}/s peak: hold {_ms(p99['hold'])} ms, "
          f"checkout {_ms(p99['checkout'])} ms | {_verdict(r['p99_at_80_percent_met'])} |")
    if "seat_map_polls_per_s" in r:
        share = r.get("seat_map_polls_answered_by_nginx") or 0
        w(f"| public seat-map polls with If-None-Match ≥ {POLLS_TARGET_PER_S:,}/s, ≥ "
          f"{POLLS_NGINX_SHARE_TARGET:.0%} answered by nginx (`$upstream_cache_status`) | "
          f"{r['seat_map_polls_per_s']:g}/s, {share:.1%} answered by nginx | {_verdict(r['seat_map_polls_met'])} |")
    if "app_over_pgbench" in r:
        runs = r.get("pgbench_tps_runs", [])
        mean = f" (mean of {runs[0]:g} before and {runs[1]:g} after)" if len(runs) == 2 else ""
        w(f"| purchases/s ÷ pgbench hot-path tps, same run: not below {RATIO_FLOOR} | "
          f"{r['app_purchases_per_s_best']:g} / {r['pgbench_tps']:g}{mean} = **{r['app_over_pgbench']:.3f}** | "
          f"{_verdict(r['app_over_pgbench'] >= RATIO_FLOOR)} |")
    w("")
    runs = [s[n] for n in ("sellout_c256_run1", "sellout_c256_run2", "sellout_c256_run3") if n in s]
    if runs:
        def per_purchase(key):
            return sum(1000 * x["cpu"][key] for x in runs) / sum(max(1, x["purchases"]) for x in runs)

        app, db, proxy = per_purchase("server_cpu_seconds"), per_purchase("postgres_cpu_seconds"), \
            per_purchase("proxy_cpu_seconds")
        client = per_purchase("loadgen_cpu_seconds")
        total = app + db + proxy + client + per_purchase("other_cpu_seconds")
        cores = runs[0]["cpu"]["machine_cores"]
        needed = 5000 / 2 / SELL_OUT_TARGET_SECONDS
        w(f"**The arithmetic.** In the 256-buyer runs a purchase cost {total:.1f} ms of CPU in all: the app "
          f"{app:.1f}, PostgreSQL {db:.1f}, nginx {proxy:.1f}, the load generator {client:.1f}, the rest of the "
          f"machine the remainder. {cores} cores sell at most {1000 * cores / total:.0f} purchases/s at that "
          f"cost; a {SELL_OUT_TARGET_SECONDS} s sell-out needs {needed:.0f}/s, i.e. at most "
          f"{1000 * cores / needed:.1f} ms per purchase for everything on the machine.")
        ceiling = s.get("pgbench_app_path_c16")
        if ceiling:
            # The app's own statements through pgbench: the sell-out if Python cost nothing.
            w("")
            w(f"The database alone, running the app's own statements (`bench/app_path.sql`, prepared, 16 "
              f"clients), sold {ceiling['tps']:g} purchases/s in this run: with Python at no cost, 5,000 seats "
              f"in {2500 / ceiling['tps']:.1f} s. The sell-out target needs cheaper SQL as much as cheaper Python "
              "(bench/results/production-path.md).")
        w("")


def _overload(w, runs):
    first = runs[0]
    w("### Overload: twice the peak, with and without load shedding")
    w("")
    w(f"Purchases start at {first['target_purchases_per_s']:g}/s ({first['share_of_peak']:.0%} of the "
      f"{first['peak_purchases_per_s']:g}/s peak) for {first['arrival_seconds']:g} s, at most "
      f"{first['max_in_flight']:,} in flight. With shedding: the deployed nginx stamps every request "
      "(`X-Request-Start`), and the app refuses API work that waited longer than `ticketing.max_queue_wait_ms` "
      "unstarted, with `503 service-busy` and `Retry-After` (checkouts wait three times as long). Without: the "
      "same processes behind an nginx that does not stamp. Refused fans do not retry here.")
    w("")
    w("| shedding | started / paid purchases/s | holds: created / refused (503) / other | paid purchase "
      "p50 / p99 / max ms | checkouts refused | client errors | invariants |")
    w("| --- | --- | --- | --- | --- | --- | --- |")
    for x in runs:
        holds = _type(x, "hold").get("statuses", {})
        created, refused = holds.get("201", 0), holds.get("503", 0)
        other = sum(n for status, n in holds.items() if status not in ("201", "503"))
        paid = x.get("paid_purchase_ms", {})
        w(f"| {'on' if x.get('load_shedding') else 'off'} | {x['target_purchases_per_s']:g} / "
          f"{x['purchases_per_s']:g} | {created} / {refused} / {other} | {_ms(paid.get('p50'))} / "
          f"{_ms(paid.get('p99'))} / {_ms(paid.get('max'))} | "
          f"{_type(x, 'checkout').get('statuses', {}).get('503', 0)} | {x['client_errors']} | "
          f"{x['after']['invariants']} |")
    w("")


def _queue_rush(w, s):
    room, without = s.get("queue_rush"), s.get("queue_rush_without")
    if not room:
        return
    w("## 3. The waiting room: 20,000 fans in 10 seconds (`queue_rush`)")
    w("")
    w(f"{room['fans']:,} fans (accounts and tokens prepared untimed) arrive at random within "
      f"{room['arrival_seconds']} s (open loop) for a 5,000-seat match whose sales open "
      f"{room['opened_at_s']} s into the arrivals. Through the waiting room (adaptive, at most "
      f"{room['pace']['max_shopping']} fans shopping) each fan joins, polls the public status as "
      "docs/api.md tells clients to, exchanges the pass when called and buys 2 best-available seats. "
      "Without it the same crowd goes straight for the seats, a refused fan retrying after `Retry-After`.")
    w("")
    w("| | through the waiting room | straight at the seats |")
    w("| --- | --- | --- |")

    def row(label, value_of):
        w(f"| {label} | {value_of(room)} | {value_of(without) if without else '–'} |")

    row("purchases (2 seats each) / time to sell out",
        lambda x: f"{x['purchases']} / {x['sold_out_at_s']:g} s")
    row("5xx answers", lambda x: f"{x['http_5xx']:,}")
    row("503s to admitted fans", lambda x: f"{x['admitted_fans_503s']}" if "admitted_fans_503s" in x else "–")
    row("requests that failed to connect or were reset", lambda x: f"{x['client_errors']:,}")
    row("joins/s reached", lambda x: f"{x['joins_per_s']:g}" if x.get("joins_per_s") else "–")
    row("polls answered by nginx without reaching Python",
        lambda x: f"{x['polls_answered_by_nginx']:.2%} of {sum(x['polls_by_cache_status'].values()):,}"
        if "polls_answered_by_nginx" in x else "–")
    row("wait in the queue, join to admission: median / p95",
        lambda x: f"{x['queue_wait_s']['p50']:g} s / {x['queue_wait_s']['p95']:g} s" if "queue_wait_s" in x else "–")
    row("inversions of the call order among fans who joined after the opening",
        lambda x: f"{x['fairness']['inversions']} (of {x['fairness']['joined_after_opening']:,} fans)"
        if "fairness" in x else "–")
    row("fans overtaken between their client and the database (pairs, share)",
        lambda x: f"{x['arrival_order']['inverted_pairs']:,} ({x['arrival_order']['inverted_share']:.2%}), "
        f"at most {x['arrival_order']['largest_overtaking_s']:g} s" if "arrival_order" in x else "–")
    w("")
    w("Per request type, through the waiting room:")
    w("")
    w("| request | count | per s | p50 / p95 / p99 ms | statuses |")
    w("| --- | --- | --- | --- | --- |")
    for kind, t in room["by_type"].items():
        w(f"| {kind} | {t['requests']:,} | {t['rate_per_s']:g} | {t['p50_ms']:g} / {t['p95_ms']:g} / "
          f"{t['p99_ms']:g} | {_statuses(t['statuses'])} |")
    w("")
    w("Who got seats, by arrival time (the opening is at "
      f"{room['opened_at_s']} s; before it, order is drawn at random):")
    w("")
    w("| arrived (s) | fans | seats, waiting room | seats, straight | refusals, straight |")
    w("| --- | --- | --- | --- | --- |")
    for index, tenth in enumerate(room["by_arrival"]):
        other = without["by_arrival"][index] if without else {}
        w(f"| {tenth['arrived_s'][0]:g}–{tenth['arrived_s'][1]:g} | {tenth['fans']} | {tenth['got_seats']} | "
          f"{other.get('got_seats', '–')} | {other.get('refusals', '–')} |")
    w("")


def _reads(w, s, pictures):
    rows = [(name, label) for name, label in (
        ("seat_map_200", "full map, no If-None-Match, through nginx"),
        ("seat_map_304", "If-None-Match, through nginx (the rush's polls)"),
        ("seat_map_304_direct", "If-None-Match, straight to one app process")) if name in s]
    if not rows:
        return
    w("## 2. Public seat-map polls (wrk, anonymous)")
    w("")
    w("The public map answers `Cache-Control: public, max-age=0, s-maxage=1` with its ETag; nginx keeps it a "
      "second (`proxy_cache_lock`, stale while updating, revalidation with the ETag) and answers "
      "`If-None-Match` itself. Who answered is counted from nginx's `$upstream_cache_status` in its access log.")
    w("")
    if "reads.svg" in pictures:
        w("![seat map polls](perf/reads.svg)")
        w("")
    w("| what | connections | requests/s | p50 / p99 ms | statuses | answered by nginx | app CPU s | nginx CPU s |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, label in rows:
        x = s[name]
        share = x.get("answered_by_nginx_share")
        cache = (f"{share:.1%} ({_statuses(x['cache_statuses'])})" if share is not None else "–")
        w(f"| {label} | {x['concurrency']} | {x['requests_per_s']:g} | {x['p50_ms']:g} / {x['p99_ms']:g} | "
          f"{_statuses(x['statuses'])} | {cache} | {x['cpu']['server_cpu_seconds']:g} | "
          f"{x['cpu'].get('proxy_cpu_seconds', 0):g} |")
    w("")


def _ceilings(w, s):
    names = [n for n in ("pgbench_c16", "pgbench_c64", "pgbench_app_path_c16", "pgbench_c16_prepared",
                         "pgbench_c16_after") if n in s]
    if not names:
        return
    w("## The ceiling: PostgreSQL alone")
    w("")
    w("Each pgbench transaction is one purchase of two best-available seats on its own fresh match: "
      "`bench/hot_path.sql` is the claim-and-sell SQL alone (the headline ratio divides by the mean of its "
      "16-client runs before and after the app's sell-outs); `bench/app_path.sql` is every statement the app "
      "sends for the same purchase, in its two transactions, prepared once per client as the app prepares "
      "them once per connection: what the database could sell if Python cost nothing.")
    w("")
    w("| script | mode | clients | purchases/s (tps) | avg latency ms | purchases | failed | PostgreSQL CPU s |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in names:
        x = s[name]
        w(f"| `{x.get('script', 'bench/hot_path.sql')}` | {x.get('mode', 'simple')} | {x['clients']} | {x['tps']:g} | "
          f"{x['latency_avg_ms']:g} | {x['purchases']} | {x['failed']} | {x['cpu']['postgres_cpu_seconds']:g} |")
    w("")


def _replication(w, s, skipped=None):
    """The cost of the synchronous standby (bench/replication.py): each round, then the means."""
    title = "## Synchronous replication: what the standby costs"
    rounds = [(name, x) for name, x in s.items() if "replication" in x and not x["replication"].get("paced")]
    if not rounds:
        if skipped:
            w(title)
            w("")
            w(f"Not measured in this run: {skipped}.")
            w("")
        return
    labels = {"with_standby": "with the synchronous standby", "standby_stopped": "standby stopped (primary alone)"}
    w(title)
    w("")
    w("Best-available purchases through nginx in front of 2 app processes on a pg_auto_failover primary "
      "(`deploy/ha-cluster.sh`, both nodes on this machine), in alternating rounds: with its synchronous standby "
      "(every commit waits until the standby has flushed its WAL), and with the standby's node stopped, the primary "
      "alone (`wait_primary`, `synchronous_standby_names = ''`). Each round: 64 buyers in a closed loop (the "
      "purchases/s), then purchases started at a fixed rate, half the first round's peak (the latency: a purchase's "
      "own time, where the closed loop's p99 is its queue's). PostgreSQL CPU includes the standby's WAL receiver and "
      "replay, which share these 2 cores; on separate hosts they would not, and a network round trip per commit "
      "would be added instead (decision 0036). The CPU of other processes shows a round that shared the machine "
      "with something else.")
    w("")
    w("| round | standby | purchases/s (64 buyers) | started / achieved purchases/s | hold p50 / p99 ms | "
      "checkout p50 / p99 ms | 5xx | PostgreSQL CPU ms per purchase | WAL bytes per purchase | "
      "CPU s of other processes (closed / fixed rate) | invariants |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    medians = {}
    for name, x in rounds:
        mode = x["replication"]["mode"]
        paced = s.get(f"{name}_paced", {})
        n = max(1, x["purchases"])
        checked = [x["after"]["invariants"], paced.get("after", {}).get("invariants", "all hold")]
        invariants = "all hold" if all(value == "all hold" for value in checked) else "BROKEN"
        medians.setdefault(mode, []).append({
            "rate": x["purchases_per_s"], "pg_ms": 1000 * x["cpu"]["postgres_cpu_seconds"] / n,
            "p50": _type(paced, "checkout").get("p50_ms"), "p99": _type(paced, "checkout").get("p99_ms")})
        w(f"| {name.rsplit('_', 1)[-1]} | {labels.get(mode, mode)} | {x['purchases_per_s']:g} | "
          f"{paced.get('target_purchases_per_s', 0):g} / {paced.get('purchases_per_s', 0):g} | "
          f"{_ms(_type(paced, 'hold').get('p50_ms'))} / {_ms(_type(paced, 'hold').get('p99_ms'))} | "
          f"{_ms(_type(paced, 'checkout').get('p50_ms'))} / {_ms(_type(paced, 'checkout').get('p99_ms'))} | "
          f"{x['http_5xx'] + paced.get('http_5xx', 0)} | {1000 * x['cpu']['postgres_cpu_seconds'] / n:.1f} | "
          f"{x['replication']['wal_bytes_per_purchase']} | {x['cpu']['other_cpu_seconds']:g} / "
          f"{paced.get('cpu', {}).get('other_cpu_seconds', 0):g} | {invariants} |")
    w("")
    if set(medians) == {"with_standby", "standby_stopped"}:
        def median(mode, key):  # the middle round: one disturbed round moves a mean, not this
            values = sorted(row[key] for row in medians[mode] if row[key] is not None)
            if not values:
                return float("nan")
            middle = len(values) // 2
            return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2

        sync, alone = median("with_standby", "rate"), median("standby_stopped", "rate")
        w(f"**The cost of the standby.** Median of the rounds: {sync:.1f} purchases/s with it, {alone:.1f} without "
          f"(**{sync / alone:.2f}×**); at the fixed rate, checkout p50 / p99 {median('with_standby', 'p50'):.1f} / "
          f"{median('with_standby', 'p99'):.1f} ms with it against {median('standby_stopped', 'p50'):.1f} / "
          f"{median('standby_stopped', 'p99'):.1f} ms without; PostgreSQL CPU {median('with_standby', 'pg_ms'):.1f} "
          f"against {median('standby_stopped', 'pg_ms'):.1f} ms per purchase.")
        w("")


if __name__ == "__main__":
    render(json.loads((RESULTS / "latest.json").read_text()))
    print(f"wrote {DOC.relative_to(ROOT)} and {PICTURES.relative_to(ROOT)}/")
