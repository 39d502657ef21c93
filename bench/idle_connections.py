"""Paced purchases with idle keep-alive connections held open beside them (decision 0031).

A rush's fans keep their connections open between requests; this measures what that costs
the one app process: the app the production way (as ``bench.rush``), one fresh match per
rate, ``--idle`` connections opened before the paced runs and left silent, then purchases
started at each rate for ``--seconds``. Prints, per rate: purchases/s, hold and checkout
p50/p99, server and PostgreSQL CPU seconds, the invariant checks' verdict.

    python -m bench.idle_connections --idle 400 150 180
    python -m bench.idle_connections --idle 0 150 180      # the same without them
"""
import argparse
import socket
import time

import psycopg2

from bench import environment, loadgen, prepare, rush

CUSTOMERS = 4000


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rates", nargs="+", type=float, help="purchases started per second")
    parser.add_argument("--idle", type=int, default=400, help="idle keep-alive connections held open")
    parser.add_argument("--seconds", type=float, default=12, help="arrival window per rate")
    args = parser.parse_args(argv)
    rush.preflight()
    secrets = environment.generated_secrets()
    with environment.fresh_database(secrets) as url:
        app = environment.start_app(url, secrets)
        idle = []
        try:
            tokens = prepare.token_settings(environment.INI, {"DATABASE_URL": url, **secrets})
            (staff_id,) = prepare.create_users(url, 1, "staff", 0)
            staff = prepare.issue_tokens(tokens, [staff_id], "staff")[0][1]
            stadium, sections = prepare.create_stadium(app.base, staff)
            names = ["warmup", *(f"rate_{i}" for i in range(len(args.rates)))]
            matches = {name: prepare.create_match(app.base, staff, stadium, sections, name) for name in names}
            customer_ids = prepare.create_users(url, CUSTOMERS, "customer", prepare.WALLET_BALANCE)
            connection = psycopg2.connect(url)
            connection.autocommit = True
            connection.cursor().execute("ANALYZE")
            connection.close()
            loadgen.run_scenario("best_available", app.base, matches["warmup"],
                                 prepare.issue_tokens(tokens, customer_ids), 16, 3, 3000)
            port = int(app.base.rsplit(":", 1)[1])
            idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(args.idle)]
            time.sleep(1)  # accepted by the server before the first arrival
            for number, rate in enumerate(args.rates):
                name = f"rate_{number}"
                result = rush.run_paced(name, url, app, matches[name], prepare.issue_tokens(tokens, customer_ids),
                                        rate, 1.0, args.seconds, 100000)
                hold, checkout = result["by_type"]["hold"], result["by_type"]["checkout"]
                print(f"{rate}/s with {args.idle} idle connections: {result['purchases_per_s']} purchases/s, "
                      f"hold p50/p99 {hold['p50_ms']}/{hold['p99_ms']} ms, "
                      f"checkout p50/p99 {checkout['p50_ms']}/{checkout['p99_ms']} ms, "
                      f"server CPU {result['cpu']['server_cpu_seconds']} s, "
                      f"PostgreSQL CPU {result['cpu']['postgres_cpu_seconds']} s, "
                      f"invariants: {result['after']['invariants']}", flush=True)
        finally:
            for sock in idle:
                sock.close()
            app.stop()


if __name__ == "__main__":
    main()
