"""A/B of two app configurations side by side, in the same sell-out, through nginx.

This machine's speed drifts by well over 10 % within minutes, so two sell-outs run one after
the other compare minutes as much as code. Here both variants serve *the same* sell-out at
the same time: one ``pserve`` process of A and one of B behind the deployed nginx
(deploy/nginx.conf, round robin), so every request mix, lock and minute is shared. What is
compared is each process's CPU per request it served (CPU from the kernel, requests from
nginx's access log by upstream address): when the host is CPU-bound, as in a rush, that is
what purchases/s is made of. Each round starts both processes afresh and swaps their places
in the upstream list.

    python -m bench.ab --b-env TICKETING_GC_FREEZE=1 --rounds 4
    python -m bench.ab --b-set server:main:threads=6 --rounds 4

``--a-env/--b-env KEY=VALUE`` add to a variant's environment; ``--a-set/--b-set
SECTION:KEY=VALUE`` change one line of production.ini for it (written to a temporary ini
beside production.ini, so ``%(here)s`` stays the project). The result is printed and
written to ``bench/results/ab-<label>.json``.
"""
import argparse
import configparser
import json
import re
import statistics
import time
from pathlib import Path

from bench import environment, loadgen, nginx, prepare
from bench.environment import INI, ROOT, log

RESULTS = ROOT / "bench" / "results"


def variant_ini(name, changes):
    """production.ini with ``changes`` (``section:key=value``) applied, or production.ini itself."""
    if not changes:
        return INI
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(INI)
    for change in changes:
        where, value = change.split("=", 1)
        section, key = where.rsplit(":", 1)
        parser[section][key] = value
    path = ROOT / f".ab-{name}.ini"
    with open(path, "w") as out:
        parser.write(out)
    return path


def served_by(access_log, ports):
    """Requests per upstream port, from nginx's access log (its ``ua=`` field)."""
    counts = dict.fromkeys(ports, 0)
    for line in Path(access_log).read_text().splitlines():
        found = re.search(r"ua=127\.0\.0\.1:(\d+)", line)
        if found and int(found.group(1)) in counts:
            counts[int(found.group(1))] += 1
    return counts


def one_round(url, run_secrets, variants, customers, matches, concurrency, swap):
    apps = {}
    try:
        for label, (ini, env) in variants.items():
            apps[label] = environment.start_app(url, run_secrets, name=f"ab_{label}", env=env, ini=ini)
        order = list(apps.values())[::-1] if swap else list(apps.values())
        proxy = nginx.Nginx(order, name="nginx-ab")
        try:
            loadgen.run_scenario("best_available", proxy.base, matches.pop(), customers(), 16, 3, 1500)
            before = {label: app.cpu_seconds() for label, app in apps.items()}
            lines_before = len(proxy.access_log.read_text().splitlines()) if proxy.access_log.exists() else 0
            environment.vacuum(url)
            scenario = loadgen.run_scenario("best_available", proxy.base, matches.pop(), customers(), concurrency,
                                            150, 60000)
            cpu = {label: app.cpu_seconds() - before[label] for label, app in apps.items()}
        finally:
            proxy.stop()  # flushes the buffered access log
        log_path = proxy.access_log.with_suffix(".round")
        log_path.write_text("\n".join(proxy.access_log.read_text().splitlines()[lines_before:]))
        requests = served_by(log_path, [app.port for app in apps.values()])
    finally:
        for app in apps.values():
            app.stop()
    result = scenario.result()
    per_request = {label: 1000 * cpu[label] / max(1, requests[app.port]) for label, app in apps.items()}
    return {"purchases_per_s": result["purchases_per_s"], "http_5xx": result["http_5xx"],
            "requests": {label: requests[app.port] for label, app in apps.items()},
            "cpu_seconds": {label: round(cpu[label], 2) for label in apps},
            "cpu_ms_per_request": {label: round(value, 3) for label, value in per_request.items()},
            "b_over_a": round(per_request["B"] / per_request["A"], 3)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for side in ("a", "b"):
        parser.add_argument(f"--{side}-env", action="append", default=[], metavar="KEY=VALUE")
        parser.add_argument(f"--{side}-set", action="append", default=[], metavar="SECTION:KEY=VALUE")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--label", default=None)
    args = parser.parse_args(argv)
    label = args.label or "-".join(re.sub(r"[^a-z0-9]+", "_", x.lower()) for x in args.b_env + args.b_set) or "same"
    variants = {side.upper(): (variant_ini(f"{label}-{side}", getattr(args, f"{side}_set")),
                               dict(item.split("=", 1) for item in getattr(args, f"{side}_env")))
                for side in ("a", "b")}
    run_secrets = environment.generated_secrets()
    rounds = []
    try:
        with environment.fresh_database(run_secrets) as url:
            token_settings = prepare.token_settings(INI, {"DATABASE_URL": url, **run_secrets})
            (staff_id,) = prepare.create_users(url, 1, "staff", 0)
            staff = prepare.issue_tokens(token_settings, [staff_id], "staff")[0][1]
            builder = environment.start_app(url, run_secrets, name="ab_setup")
            try:
                stadium, sections = prepare.create_stadium(builder.base, staff)
                matches = [prepare.create_match(builder.base, staff, stadium, sections, f"ab{i}")
                           for i in range(2 * args.rounds)]
            finally:
                builder.stop()
            customer_ids = prepare.create_users(url, 4000, "customer", prepare.WALLET_BALANCE)

            def customers():
                return prepare.issue_tokens(token_settings, customer_ids)

            for number in range(args.rounds):
                outcome = one_round(url, run_secrets, variants, customers, matches, args.concurrency,
                                    swap=number % 2 == 1)
                log(f"round {number + 1}: {json.dumps(outcome)}")
                rounds.append(outcome)
    finally:
        for ini, _ in variants.values():
            if ini != INI:
                ini.unlink(missing_ok=True)
    ratios = [r["b_over_a"] for r in rounds]
    summary = {"label": label, "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "concurrency": args.concurrency,
               "a": {"env": args.a_env, "set": args.a_set}, "b": {"env": args.b_env, "set": args.b_set},
               "rounds": rounds, "b_over_a_mean": round(statistics.mean(ratios), 3),
               "b_over_a_range": [min(ratios), max(ratios)], "b_cheaper_in": sum(r < 1 for r in ratios)}
    log(f"B/A CPU per request: mean {summary['b_over_a_mean']}, range {summary['b_over_a_range']}, "
        f"B cheaper in {summary['b_cheaper_in']} of {len(ratios)} rounds")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"ab-{label}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()
