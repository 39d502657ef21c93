"""The cost of synchronous replication: the same purchases on a primary with its synchronous
standby, and on the same primary with the standby stopped, on this machine, in one run.

Group ``replication`` of ``python -m bench.rush``. It starts the HA pair exactly as ops would
(``deploy/ha-cluster.sh``: pg_auto_failover's monitor, a primary and a standby on 127.0.0.1,
through the failover tests' handle on it, ``tests/failover/ha.py``), a fresh database on it,
and 2 app processes behind nginx whose ``DATABASE_URL`` is the pair's multi-host URL. Then,
alternating, so that the machine's drift within minutes falls on both sides alike:

- ``with_standby``: every commit waits for the standby to have flushed its WAL
  (``synchronous_standby_names = 'ANY 1 (...)'``, the primary in state ``primary``);
- ``standby_stopped``: ``ha-cluster.sh stop-standby``; once the monitor has noticed, the
  primary runs alone (``wait_primary``, ``synchronous_standby_names = ''``): no WAL shipped,
  no wait, no standby replaying on these cores.

Each round is a best-available sell-out through nginx, closed loop, for a fixed time (the
purchases/s), then purchases started at a fixed rate, half the first round's peak (the p99:
a purchase's own time, not the queue's that a closed loop measures), each on a match of its
own and followed by the invariant checks; and the WAL bytes each purchase writes (what a
standby receives, what crosses the network between two hosts). Needs root (the script runs
the engine as a system user of its own) and Debian's postgresql-15-auto-failover and
pg-auto-failover-cli; without them the group is skipped with the reason logged.
"""
import os
import shutil
import time
from pathlib import Path

import psycopg2

from bench import environment, loadgen, prepare
from bench.environment import log
from tests.failover.ha import HaCluster

ROUNDS = ("with_standby", "standby_stopped") * 3
CONCURRENCY = 64
#: Open-loop rounds start purchases at this share of the first closed-loop round's peak.
PACED_SHARE = 0.5
CUSTOMERS = 2000


def missing():
    """Why the group cannot run here, or None."""
    if not shutil.which("pg_autoctl") or not list(Path("/usr/lib/postgresql").glob("*/lib/pgautofailover.so")):
        return ("Debian's postgresql-15-auto-failover and pg-auto-failover-cli are not installed "
                "(apt-get install -y postgresql-15-auto-failover pg-auto-failover-cli)")
    if os.geteuid() != 0:
        return "deploy/ha-cluster.sh needs root to run the engine as a system user of its own"
    return None


def _primary_query(url, sql):
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()[0]
    finally:
        conn.close()


def _set_mode(pair, mode, url):
    """Bring the pair to ``mode``; return the primary's synchronous_standby_names once it says so."""
    pair.script("start" if mode == "with_standby" else "stop-standby")  # start: primary + secondary again
    deadline = time.monotonic() + 60
    while (_primary_query(url, "SHOW synchronous_standby_names") == "") != (mode == "standby_stopped"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the pair did not reach {mode}: {pair.script('status')}")
        time.sleep(0.5)
    return _primary_query(url, "SHOW synchronous_standby_names")


def run(run_secrets, budget, cluster_class, run_loadgen, run_paced):
    """The rounds, as {scenario name: result}. ``cluster_class``, ``run_loadgen`` and
    ``run_paced`` are bench.rush's: app processes behind nginx, a closed-loop scenario and an
    open-loop one, each followed by its checks."""
    pair = HaCluster()  # the failover tests' own handle on deploy/ha-cluster.sh
    log(f"replication: starting the HA pair (deploy/ha-cluster.sh) in {pair.dir}")
    pair.start()
    out = {}
    try:
        admin_url = pair.uri()
        with environment.fresh_database(run_secrets, admin_dsn=admin_url) as url:
            token_settings = prepare.token_settings(environment.INI, {"DATABASE_URL": url, **run_secrets})
            (staff_id,) = prepare.create_users(url, 1, "staff", 0)
            staff_token = prepare.issue_tokens(token_settings, [staff_id], "staff")[0][1]
            customer_ids = prepare.create_users(url, CUSTOMERS, "customer", prepare.WALLET_BALANCE)
            cluster = cluster_class(url, run_secrets, 2, "ha")
            try:
                stadium, sections = prepare.create_stadium(cluster.base, staff_token)
                names = [f"replication_{mode}_{number}" for number, mode in enumerate(ROUNDS, 1)]
                matches = {name: prepare.create_match(cluster.base, staff_token, stadium, sections, name)
                           for name in ["replication_warmup", *names, *(f"{n}_paced" for n in names)]}

                def customers():  # fresh tokens per round: access tokens live 15 minutes
                    return prepare.issue_tokens(token_settings, customer_ids)

                loadgen.run_scenario("best_available", cluster.base, matches["replication_warmup"], customers(),
                                     16, 3, 3000)
                peak = None
                for name, mode in zip(names, ROUNDS):
                    meta = {"mode": mode, "synchronous_standby_names": _set_mode(pair, mode, url)}
                    # Throughput: closed loop. The WAL it wrote, without the VACUUM before it.
                    environment.vacuum(url)
                    wal_before = _primary_query(url, "SELECT pg_current_wal_lsn()")
                    closed = run_loadgen(name, "best_available", url, cluster, matches[name], customers(),
                                         CONCURRENCY, budget["replication_s"], budget["max_requests"])
                    wal = _primary_query(url, f"SELECT pg_current_wal_lsn() - '{wal_before}'::pg_lsn")
                    closed["replication"] = {**meta, "wal_bytes_per_purchase":
                                             round(float(wal) / max(1, closed["purchases"]))}
                    out[name] = closed
                    # Latency: purchases started at half the first round's peak, whatever the
                    # latency, so that the p99 is the purchase's own time and not a queue's.
                    peak = peak or closed["purchases_per_s"]
                    paced = run_paced(f"{name}_paced", url, cluster, matches[f"{name}_paced"], customers(), peak,
                                      PACED_SHARE, budget["replication_paced_s"], budget["max_requests"])
                    paced["replication"] = {**meta, "paced": True}
                    out[f"{name}_paced"] = paced
            finally:
                cluster.stop()
    finally:
        pair.destroy()
    return out
