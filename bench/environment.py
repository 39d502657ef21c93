"""Everything the benchmark runs against: a fresh database, secrets, server processes, CPU meters.

The app is started the production way: ``production.ini`` (its pool, timeouts, logging and
``[server:main]`` waitress settings) with the secrets and ``DATABASE_URL`` in the
environment, as an operator would. Only the listen address differs: 127.0.0.1 on a free
port. The benchmark database is created fresh for each run, migrated with
``alembic -c production.ini upgrade head`` and dropped at the end.
"""
import base64
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import psutil
import psycopg2
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent
INI = ROOT / "production.ini"
TMP = ROOT / "bench" / "results" / "tmp"
PYTHON = sys.executable


def log(message):
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


# --- the database ---------------------------------------------------------------------------

def _server_answers(dsn):
    try:
        psycopg2.connect(dsn, connect_timeout=2).close()
        return True
    except psycopg2.OperationalError:
        return False


def server_dsn():
    """A maintenance DSN: BENCH_DATABASE_SERVER, else 127.0.0.1:5432, else the embedded cluster."""
    explicit = os.environ.get("BENCH_DATABASE_SERVER")
    if explicit:
        return explicit
    local = "postgresql://postgres@127.0.0.1:5432/postgres"
    if _server_answers(local):
        return local
    from ticketing import embedded_postgres

    server = embedded_postgres.start(ROOT / "var" / "bench-pgdata")
    return server.get_uri("postgres")


def _with_database(dsn, name):
    # The query may hold a socket directory (?host=/var/run/postgresql): split it off first.
    address, _, query = dsn.partition("?")
    base = address.rpartition("/")[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


def vacuum(database_url):
    """Untimed, before each scenario: ``VACUUM ANALYZE``, as pgbench does before its runs, so
    the dead rows one scenario leaves do not tax the next and every scenario starts alike."""
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
    finally:
        conn.close()


@contextmanager
def fresh_database(run_secrets, admin_dsn=None):
    """Create ``ticketing_bench_<timestamp>``, migrate it, yield its URL; drop it afterwards.

    Alembic reads production.ini too, which refuses to load without the secrets.
    ``admin_dsn``: a maintenance DSN of another server than server_dsn()'s (bench/replication.py).
    """
    admin_dsn = admin_dsn or server_dsn()
    name = f"ticketing_bench_{datetime.now(timezone.utc):%Y%m%d%H%M%S}_{uuid.uuid4().hex[:6]}"
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn.close()
    url = _with_database(admin_dsn, name)
    BENCH_DATABASE["name"] = name
    try:
        log(f"database {name}: migrating with alembic -c production.ini upgrade head")
        subprocess.run(
            [str(Path(PYTHON).parent / "alembic"), "-c", str(INI), "upgrade", "head"],
            cwd=ROOT, env={**os.environ, **run_secrets, "DATABASE_URL": url}, check=True,
            stdout=subprocess.DEVNULL,
        )
        yield url
    finally:
        conn = psycopg2.connect(admin_dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.close()
        log(f"database {name} dropped")


def server_version(url):
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("SHOW server_version")
        version = cur.fetchone()[0]
        cur.execute("SHOW synchronous_commit")
        sync = cur.fetchone()[0]
        cur.execute("SHOW fsync")
        fsync = cur.fetchone()[0]
        cur.execute("SHOW max_connections")
        max_connections = cur.fetchone()[0]
    conn.close()
    return {"version": version, "synchronous_commit": sync, "fsync": fsync, "max_connections": max_connections}


# --- secrets ---------------------------------------------------------------------------------

def generated_secrets():
    """Fresh production secrets for this run (never written anywhere but the child's environment)."""
    return {
        "TICKETING_JWT_SECRET": secrets.token_urlsafe(48),
        "TICKETING_SESSION_SECRET": secrets.token_urlsafe(48),
        "TICKETING_TICKET_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode("ascii"),
    }


# --- server processes ----------------------------------------------------------------------

def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A waitress process on 127.0.0.1:<free port>, its log in bench/results/tmp/."""

    def __init__(self, name, argv, env, health_path):
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        TMP.mkdir(parents=True, exist_ok=True)
        self.log_path = TMP / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [arg.format(port=self.port) for arg in argv], cwd=ROOT, env={**os.environ, **env},
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.ps = psutil.Process(self.process.pid)
        self._wait_ready(health_path)

    def _wait_ready(self, path, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.base + path, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer {path} within {timeout}s; see {self.log_path}")

    def cpu_seconds(self):
        times = self.ps.cpu_times()
        return times.user + times.system

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def start_app(database_url, run_secrets, name="app", env=None, ini=INI):
    """``pserve production.ini http_port=<free port>``, exactly as ops start each process
    (deploy/ticketing@.service), with the run's secrets and database in its environment.

    One address sends every fan's requests here, so the per-IP request limits are off and
    the per-user ones on (``TICKETING_DISABLE_REQUEST_LIMITS=per-ip``); ``env`` adds to the
    environment; ``ini``: another ini than production.ini (bench/ab.py's variants)."""
    env = {"DATABASE_URL": database_url, **run_secrets, "TICKETING_DISABLE_REQUEST_LIMITS": "per-ip", **(env or {})}
    pserve = str(Path(PYTHON).parent / "pserve")
    return Server(name, [pserve, str(ini), "http_port={port}"], env, "/healthz")


# --- CPU meters ------------------------------------------------------------------------------

#: The benchmark database's name, so PostgreSQL CPU counts only its backends (and the
#: server's background processes), not other databases' on a shared machine.
BENCH_DATABASE = {"name": None}


_POSTGRES_NAMES = ("postgres", "postmaster")


class _PostgresProcesses:
    """The PostgreSQL processes to count, found by name and command line.

    Classifying a process reads its /proc files, and this machine runs hundreds of processes
    (other databases, brokers); reading them all twice a second cost ~8 % of the load
    generator's CPU, which is counted against the same cores as the app. So each pid is
    classified once, and later samples only classify pids they have not seen. A counted pid
    is checked against its start time (``is_running``), so a reused pid is classified anew;
    a pid first seen as something else and reused by a backend within one half-second sample
    would be missed, which the pooled connections of a run make a theoretical case. A backend
    caught between its fork and setting its title still shows the postmaster's command line,
    which names no database; it is left undecided and classified again at the next sample.
    A backend still untitled after ``UNDECIDED_SAMPLES`` samples belongs to a server running
    with ``update_process_title = off``, whose backends never name their database: it is
    counted, as nothing tells it apart from the benchmark's own."""

    _UNDECIDED = object()

    #: Samples a postmaster's child may stay untitled before it is counted anyway; a backend
    #: sets its title within milliseconds of its fork, so three half-second samples is ample.
    UNDECIDED_SAMPLES = 3

    def __init__(self):
        self._known = {}  # pid -> psutil.Process to count, or None for any other process
        self._undecided = {}  # pid -> samples it has been seen untitled

    def __call__(self):
        pids = set(psutil.pids())
        for pid in set(self._known) - pids:
            del self._known[pid]
        for pid in set(self._undecided) - pids:
            del self._undecided[pid]
        found = []
        for pid in pids:
            process = self._known.get(pid, False)
            if process is not False and (process is None or process.is_running()):
                if process is not None:
                    found.append(process)
                continue
            waited = self._undecided.get(pid, 0)
            process = self._classify(pid, patient=waited < self.UNDECIDED_SAMPLES)
            if process is self._UNDECIDED:
                self._undecided[pid] = waited + 1
                continue
            self._undecided.pop(pid, None)
            self._known[pid] = process
            if process is not None:
                found.append(process)
        return found

    @classmethod
    def _classify(cls, pid, patient=True):
        try:
            process = psutil.Process(pid)
            if process.name() not in _POSTGRES_NAMES:
                return None
            command = " ".join(process.cmdline() or [])
        except psutil.Error:
            return None
        if patient and not command.startswith("postgres:") and _has_postgres_parent(process):
            return cls._UNDECIDED  # a child of the postmaster that has not set its title yet
        if BENCH_DATABASE["name"] and BENCH_DATABASE["name"] not in command and " ticketing_" in command:
            return None  # a backend of another database (another test run on this machine)
        return process


def _has_postgres_parent(process):
    try:
        return psutil.Process(process.ppid()).name() in _POSTGRES_NAMES
    except psutil.Error:
        # No parent to read: the postmaster running as PID 1 in a container, whose parent
        # is pid 0. It is no postmaster's child, so it is judged (and counted) on its own.
        return False


_postgres_processes = _PostgresProcesses()


class CpuMeter:
    """CPU seconds spent during a scenario by the server, the load generator and PostgreSQL.

    ``loadgen`` is this process (the asyncio client) plus reaped children (wrk, pgbench).
    PostgreSQL is the sum over the benchmark database's backends and the server's background
    processes, sampled every half second so that backends that come and go (pgbench's, the
    autocommit connections) are counted up to their last sample;
    ``machine`` is every core's busy time from /proc/stat and ``other`` what is left of it:
    anything else that ran on the machine meanwhile, so a noisy run shows as one.
    """

    SAMPLE_SECONDS = 0.5

    def __init__(self, servers=()):
        self.servers = servers if isinstance(servers, (list, tuple)) else [servers]
        self.seen = {}  # pid -> latest CPU seconds of a PostgreSQL process
        self._stop = threading.Event()

    @staticmethod
    def _postgres_cpu():
        cpu = {}
        for process in _postgres_processes():
            try:
                t = process.cpu_times()
                cpu[process.pid] = t.user + t.system
            except psutil.Error:
                pass
        return cpu

    def _sample(self):
        while not self._stop.wait(self.SAMPLE_SECONDS):
            self.seen.update(self._postgres_cpu())

    def _snapshot(self):
        me = psutil.Process()
        own = me.cpu_times()
        children = os.times()
        pg = self._postgres_cpu()
        total = psutil.cpu_times()
        idle = total.idle + getattr(total, "iowait", 0.0)
        busy = sum(total) - idle
        return {
            "wall": time.monotonic(),
            "server": sum(server.cpu_seconds() for server in self.servers),
            "loadgen": own.user + own.system + children.children_user + children.children_system,
            "pg": pg,
            "busy": busy,
            "load": os.getloadavg()[0],
        }

    def __enter__(self):
        self.start = self._snapshot()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._sampler.join()
        self.end = self._snapshot()
        self.seen.update(self.end["pg"])
        return False

    def result(self):
        start, end = self.start, self.end
        pg = sum(last - start["pg"].get(pid, 0.0) for pid, last in self.seen.items())
        wall = end["wall"] - start["wall"]
        return {
            "wall_seconds": round(wall, 3),
            "server_cpu_seconds": round(end["server"] - start["server"], 2),
            "loadgen_cpu_seconds": round(end["loadgen"] - start["loadgen"], 2),
            "postgres_cpu_seconds": round(pg, 2),
            "machine_busy_cpu_seconds": round(end["busy"] - start["busy"], 2),
            # Whatever else ran on the machine meanwhile (other databases, other processes).
            "other_cpu_seconds": round(max(0.0, (end["busy"] - start["busy"]) - (end["server"] - start["server"])
                                           - (end["loadgen"] - start["loadgen"]) - pg), 2),
            "load_average_1m_at_end": round(end["load"], 2),
            "machine_cores": psutil.cpu_count(),
        }


def machine():
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cores": psutil.cpu_count(logical=True),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": sys.version.split()[0],
        "kernel": os.uname().release,
    }
