"""The cost of synchronous replication: the same purchases on a primary with its synchronous
standby, and on the same primary with the standby stopped, on this machine, in one run.

Group ``replication`` of ``python -m bench.rush``. It starts the HA pair exactly as ops would
(``deploy/ha-cluster.sh``: pg_auto_failover's monitor, a primary and a standby, here on
127.0.0.1 in ``bench/results/tmp/ha``), a fresh database on it, and 2 app processes behind
nginx whose ``DATABASE_URL`` is the pair's multi-host URL. Then, alternating so that the
machine's drift within minutes falls on both sides alike:

- ``with standby``: every commit waits for the standby to have flushed its WAL
  (``synchronous_standby_names = 'ANY 1 (...)'``, the primary in state ``primary``);
- ``standby stopped``: ``ha-cluster.sh stop-standby``; once the monitor has noticed, the
  primary runs alone (``wait_primary``, ``synchronous_standby_names = ''``): no WAL shipped,
  no wait, no standby replaying on these cores.

Each round is a best-available sell-out through nginx, closed loop, for a fixed time, on a
match of its own, followed by the invariant checks. Alongside purchases/s and p99: the WAL
bytes each purchase writes (what a standby must receive, and what crosses the network
between two hosts). Needs root (the script runs the engine as a system user of its own) and
Debian's postgresql-15-auto-failover and pg-auto-failover-cli; without them the group is
skipped with the reason logged.
"""
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psycopg2

from bench import environment, loadgen, prepare
from bench.environment import log

SCRIPT = environment.ROOT / "deploy" / "ha-cluster.sh"
ROUNDS = ("with_standby", "standby_stopped", "with_standby", "standby_stopped")
CONCURRENCY = 64
CUSTOMERS = 2000


def missing():
    """Why the group cannot run here, or None."""
    if not shutil.which("pg_autoctl") or not list(Path("/usr/lib/postgresql").glob("*/lib/pgautofailover.so")):
        return ("Debian's postgresql-15-auto-failover and pg-auto-failover-cli are not installed "
                "(apt-get install -y postgresql-15-auto-failover pg-auto-failover-cli)")
    if os.geteuid() != 0:
        return "deploy/ha-cluster.sh needs root to run the engine as a system user of its own"
    return None


def _free_ports(count=3, low=21000, high=32000):
    """Consecutive free ports below the ephemeral range (deploy/ha-cluster.sh says why)."""
    for base in range(low, high, 10):
        try:
            for port in range(base, base + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free ports for the HA pair")


class Pair:
    """deploy/ha-cluster.sh on a directory and ports of this run's own."""

    def __init__(self):
        self.dir = environment.TMP / "ha"
        shutil.rmtree(self.dir, ignore_errors=True)
        self.env = {**os.environ, "HA_PORT": str(_free_ports())}

    def run(self, command):
        done = subprocess.run([str(SCRIPT), command, str(self.dir)], env=self.env, capture_output=True,
                              text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"ha-cluster.sh {command}: {done.stdout}{done.stderr}")
        return done.stdout.strip()

    def primary_query(self, url, sql):
        conn = psycopg2.connect(url)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchone()[0]
        finally:
            conn.close()

    def set_mode(self, mode, url):
        """Bring the pair to ``mode`` and wait until the primary's setting says so."""
        if mode == "with_standby":
            self.run("start")  # waits for primary + secondary, i.e. synchronous again
        else:
            self.run("stop-standby")
        deadline = time.monotonic() + 60
        while (self.primary_query(url, "SHOW synchronous_standby_names") == "") != (mode == "standby_stopped"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the pair did not reach {mode}: {self.run('status')}")
            time.sleep(0.5)
        return self.primary_query(url, "SHOW synchronous_standby_names")


def run(run_secrets, budget, cluster_class, run_loadgen):
    """The rounds, as {scenario name: result}; ``cluster_class`` and ``run_loadgen`` are
    bench.rush's (app processes behind nginx, and one closed-loop scenario with its checks)."""
    pair = Pair()
    log(f"replication: starting the HA pair (deploy/ha-cluster.sh) in {pair.dir}")
    pair.run("start")
    out = {}
    try:
        admin_url = pair.run("uri")
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
                           for name in ["replication_warmup", *names]}
                environment.vacuum(url)

                def customers():  # fresh tokens per round: access tokens live 15 minutes
                    return prepare.issue_tokens(token_settings, customer_ids)

                loadgen.run_scenario("best_available", cluster.base, matches["replication_warmup"], customers(),
                                     16, 3, 3000)
                for name, mode in zip(names, ROUNDS):
                    standby_names = pair.set_mode(mode, url)
                    wal_before = pair.primary_query(url, "SELECT pg_current_wal_lsn()")
                    result = run_loadgen(name, "best_available", url, cluster, matches[name], customers(),
                                         CONCURRENCY, budget["replication_s"], budget["max_requests"])
                    wal = pair.primary_query(url, f"SELECT pg_current_wal_lsn() - '{wal_before}'::pg_lsn")
                    result["replication"] = {
                        "mode": mode, "synchronous_standby_names": standby_names,
                        "wal_bytes_per_purchase": round(float(wal) / max(1, result["purchases"])),
                    }
                    out[name] = result
            finally:
                cluster.stop()
    finally:
        pair.run("stop")
        shutil.rmtree(pair.dir, ignore_errors=True)
    return out
