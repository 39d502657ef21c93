"""The HA pair of ``deploy/ha-cluster.sh`` for a test: started in a directory of its own on
free ports, observed through the monitor's tables, and hurt the way hosts get hurt.

``lose_host`` is a host that dies: SIGKILL, at the same instant, to the node's pg_autoctl
supervisor, its postmaster and every backend (PostgreSQL children each run in a session of
their own, so a signal to one process group would miss them). ``cut_off``/``reconnect``
freeze and thaw the same processes: a node that stops answering without closing anything,
as one behind a network partition does. The failover itself is the engine's.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import psycopg2
import pytest

from tests.system_packages import on_ci, require

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "ha-cluster.sh"
NODES = ("node1", "node2")


def require_engine():
    """Skip (fail on CI) unless pg_auto_failover is installed and the test runs as root."""
    require(shutil.which("pg_autoctl") and list(Path("/usr/lib/postgresql").glob("*/lib/pgautofailover.so")),
            "postgresql-15-auto-failover pg-auto-failover-cli", "tests/failover")
    if os.geteuid() != 0:
        # The script runs the engine as a system user of its own (deploy/ha-cluster.sh: pg_autoctl
        # 2.0 sends SIGHUP to every process of the user it runs as, this test run included).
        reason = "the failover tests need root: deploy/ha-cluster.sh runs the engine as a system user of its own"
        if on_ci():
            pytest.fail(f"CI is set but {reason}", pytrace=False)
        pytest.skip(reason)


def _free_port_range(count=3, low=20000, high=32000):
    """``count`` consecutive free ports below the kernel's ephemeral range (a port in it may be
    taken by any client's connection between our check and the node's bind). The search
    starts at a place of its own per process, so that two runs at once do not pick alike."""
    for base in range(low + os.getpid() % 1000 * 10, high, 10):
        try:
            for port in range(base, base + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free ports for the HA cluster")


class HaCluster:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="ticketing-ha-"))
        self.port = _free_port_range()
        self.ports = {"node1": self.port + 1, "node2": self.port + 2}
        self.env = {**os.environ, "HA_PORT": str(self.port)}
        self.superuser = "pgautofailover"

    def script(self, command, timeout=180):
        done = subprocess.run([str(SCRIPT), command, str(self.dir)], env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"ha-cluster.sh {command} failed:\n{done.stdout}\n{done.stderr}\n{self.logs()}")
        return done.stdout

    def start(self):
        self.script("start")
        return self

    def destroy(self):
        try:
            self.script("stop", timeout=120)
        except Exception:  # a node we froze or killed: make sure nothing of ours outlives the test
            for name in ("monitor", *NODES):
                self._signal_tree(name, signal.SIGCONT)
                self._signal_tree(name, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)

    def uri(self):
        return self.script("uri").strip()

    def logs(self, lines=30):
        out = []
        for log in sorted(self.dir.glob("*.log")):
            out.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)

    # --- what the monitor knows -----------------------------------------------------------

    def monitor(self, sql, params=None):
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.superuser, dbname="pg_auto_failover",
                                connect_timeout=3)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.close()

    def states(self):
        """{node: (reported state, goal state)}."""
        return {name: (reported, goal) for name, reported, goal in
                self.monitor("SELECT nodename, reportedstate::text, goalstate::text FROM pgautofailover.node")}

    def role(self, wanted):
        """The node whose reported state is ``wanted`` (primary, secondary...), or None."""
        found = [name for name, (reported, _) in self.states().items() if reported == wanted]
        return found[0] if len(found) == 1 else None

    def events_since(self, since_epoch):
        """(epoch seconds, node, reported, goal, description) the monitor logged since then."""
        return [(at.timestamp(), node, reported, goal, description) for at, node, reported, goal, description in
                self.monitor("SELECT eventtime, nodename, reportedstate::text, goalstate::text, description "
                             "FROM pgautofailover.event WHERE eventtime >= to_timestamp(%s) ORDER BY eventid",
                             (since_epoch,))]

    def wait_until(self, what, predicate, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            try:
                if predicate():
                    return
            except psycopg2.Error:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}: {self.states()}\n{self.logs()}")
            time.sleep(0.2)

    def node(self, name, sql, params=None, dbname="postgres"):
        """One query on one node (a standby answers read-only queries)."""
        conn = psycopg2.connect(host="127.0.0.1", port=self.ports[name], user=self.superuser, dbname=dbname,
                                connect_timeout=3)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.close()

    # --- hurting hosts ----------------------------------------------------------------------

    def _processes(self, name):
        pidfile = self.dir / "run" / "pg_autoctl" / str(self.dir).lstrip("/") / name / "pg_autoctl.pid"
        try:
            keeper = psutil.Process(int(pidfile.read_text().split()[0]))
            return [keeper, *keeper.children(recursive=True)]
        except (OSError, ValueError, psutil.Error):
            return []

    def _signal_tree(self, name, signum):
        processes = self._processes(name)
        for process in processes:
            try:
                process.send_signal(signum)
            except psutil.Error:
                pass
        return processes

    def lose_host(self, name):
        """kill -9 the node's postmaster, its backends and its pg_autoctl, all at once."""
        processes = self._processes(name)
        assert [p for p in processes if p.name() == "postgres"], f"no postmaster of {name} to kill"
        self._signal_tree(name, signal.SIGKILL)  # again: a backend may have started meanwhile
        for process in processes:
            try:
                process.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass  # a backend that ended by itself meanwhile
        psutil.wait_procs(processes, timeout=10)

    def cut_off(self, name):
        assert self._signal_tree(name, signal.SIGSTOP), f"no processes of {name} to freeze"

    def reconnect(self, name):
        self._signal_tree(name, signal.SIGCONT)
