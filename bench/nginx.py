"""Debian's nginx in front of the app processes, run from ``deploy/nginx.conf``.

The benchmark and the tests never touch /etc/nginx or port 80: they write a main
``nginx.conf`` of their own under a temporary prefix (pid, error log, temp paths,
``worker_processes auto`` as Debian's has; ``worker_connections 16384``, ``multi_accept on``,
``worker_rlimit_nofile 65536`` and ``worker_priority -5`` as deploy/README.md tells ops to set) that includes
``deploy/nginx.conf`` with only these things changed: the upstream servers become their app processes, the listen address becomes 127.0.0.1:<free
port>, and the log files and the micro-cache go under the prefix. Everything else
(keep-alive to the upstreams, proxy headers, the request-start stamp, the micro-cache's
rules, per-address limits, timeouts, body limit, gzip) is the deployed file's.

``stamp=False`` leaves out the ``X-Request-Start`` stamp: the app then sheds nothing (the
benchmark's "no wait limit" overload run). ``join_rate`` replaces the waiting room's join
pacing and ``join_burst`` how many it holds (tests shrink them to see nginx hold and refuse).
"""
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

from bench.environment import ROOT, TMP, free_port

DEPLOYED = ROOT / "deploy" / "nginx.conf"
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def executable():
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


#: Connections per client address: every fan of the benchmark comes from 127.0.0.1, where in
#: a rush they come from thousands of addresses (as the app's per-IP limits, switched off).
BENCH_CONNECTIONS_PER_ADDRESS = 65_535


def site_config(ports, listen_port, log_dir, source=None, stamp=True, per_address=BENCH_CONNECTIONS_PER_ADDRESS,
                join_rate=None, join_burst=None):
    """deploy/nginx.conf with the benchmark's upstream servers, listen address, log and cache
    paths (under ``log_dir``) and connections per address; ``stamp=False``: without the
    X-Request-Start stamp; ``join_rate``, ``join_burst``: the waiting room's join pacing."""
    text = (source if source is not None else DEPLOYED.read_text())
    if join_rate is not None:
        text, found = re.subn(r"(zone=ticketing_queue_joins:\S+ rate=)\d+r/s;", rf"\g<1>{join_rate}r/s;", text)
        if not found:
            raise ValueError("deploy/nginx.conf has no `limit_req_zone ... zone=ticketing_queue_joins:... rate=Nr/s;`")
    if join_burst is not None:
        text, found = re.subn(r"(limit_req zone=ticketing_queue_joins burst=)\d+;", rf"\g<1>{join_burst};", text)
        if not found:
            raise ValueError("deploy/nginx.conf has no `limit_req zone=ticketing_queue_joins burst=N;`")
    text, found = re.subn(r"(?m)^([ \t]*limit_conn ticketing_per_address )\d+;", rf"\g<1>{per_address};", text)
    if not found:
        raise ValueError("deploy/nginx.conf has no `limit_conn ticketing_per_address N;`")
    if not stamp:
        text, found = re.subn(r"^[ \t]*proxy_set_header X-Request-Start [^\n]*\n", "", text, flags=re.M)
        if not found:
            raise ValueError("deploy/nginx.conf sets no X-Request-Start")
    text = _swap_upstream_servers(text, ports)
    listen = re.compile(r"^(\s*)listen\s+\S+?((?:\s+[^;\s]+)*);[^\n]*$", re.M)
    first = listen.search(text)
    if first is None:
        raise ValueError("deploy/nginx.conf has no listen directive")
    # The first listen's address becomes the benchmark's; its options (backlog) stay.
    text = (text[:first.start()] + f"{first.group(1)}listen 127.0.0.1:{listen_port}{first.group(2)};"
            + listen.sub("", text[first.end():]))
    text = re.sub(r"(?<=\s)/var/log/nginx/", str(log_dir).rstrip("/") + "/", text)
    text = re.sub(r"(?<=\s)/var/cache/nginx/", str(log_dir).rstrip("/") + "/cache/", text)
    return re.sub(r"\n{3,}", "\n\n", text)


def _swap_upstream_servers(text, ports):
    """Every ``upstream { }`` block's ``server 127.0.0.1:<port> <options>;`` lines replaced by
    one line per port of ``ports``, with that block's options (its own max_conns)."""
    server = re.compile(r"^(\s*)server\s+127\.0\.0\.1:\d+([^;]*);[^\n]*$", re.M)

    def swap(block):
        body = block.group(0)
        first = server.search(body)
        if first is None:
            raise ValueError(f"deploy/nginx.conf: upstream {block.group(1)} has no `server 127.0.0.1:<port>` line")
        indent, options = first.group(1), first.group(2)
        servers = "\n".join(f"{indent}server 127.0.0.1:{port}{options};" for port in ports)
        return body[:first.start()] + servers + server.sub("", body[first.end():])

    text, found = re.subn(r"(?ms)^upstream\s+(\w+)\s*\{.*?^\}", swap, text)
    if not found:
        raise ValueError("deploy/nginx.conf has no upstream block")
    return text


def main_config(prefix, site_path, user=None):
    """The main nginx.conf: Debian's, with the changes deploy/README.md makes to it."""
    paths = "\n".join(f"    {name}_temp_path {prefix}/{name};" for name in TEMP_DIRS)
    return (
        (f"user {user};\n" if user else "")
        + "worker_processes auto;\n"
        "worker_rlimit_nofile 65536;\n"
        "worker_priority -5;\n"
        f"pid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/error.log warn;\n"
        "events {\n    worker_connections 16384;\n    multi_accept on;\n}\n"
        "http {\n"
        "    sendfile on;\n    tcp_nopush on;\n    types_hash_max_size 2048;\n"
        "    include /etc/nginx/mime.types;\n    default_type application/octet-stream;\n"
        f"{paths}\n"
        f"    include {site_path};\n"
        "}\n"
    )


def _prefix_parent(workers_drop_privileges):
    """Where the prefix goes: bench/results/tmp, beside the run's other logs, unless nginx's
    workers (``nobody`` under root) could not reach it because the checkout sits under a
    directory only its owner may enter (a private home, ``mktemp -d``); then the system's
    temp directory, which everyone may traverse."""
    TMP.mkdir(parents=True, exist_ok=True)
    if not workers_drop_privileges:
        return TMP
    for folder in (TMP, *TMP.parents):
        if not folder.stat().st_mode & 0o001:  # others may not traverse it
            return None
    return TMP


class Nginx:
    """nginx (master and workers) on 127.0.0.1:<free port> in front of ``app_servers``."""

    def __init__(self, app_servers, name="nginx", stamp=True, per_address=BENCH_CONNECTIONS_PER_ADDRESS,
                 join_rate=None, join_burst=None, source=None):
        """``source``: a site config to run instead of deploy/nginx.conf (tests' variants)."""
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        user = None
        if os.geteuid() == 0:  # workers drop to nobody: they must reach their temp dirs
            user = "nobody nogroup"
            entry = pwd.getpwnam("nobody")
        self.prefix = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=_prefix_parent(user is not None)))
        if user:
            os.chmod(self.prefix, 0o755)
        for sub in TEMP_DIRS:
            (self.prefix / sub).mkdir()
            if user:
                os.chown(self.prefix / sub, entry.pw_uid, entry.pw_gid)
        site = self.prefix / "site.conf"
        (self.prefix / "cache").mkdir()
        if user:
            os.chown(self.prefix / "cache", entry.pw_uid, entry.pw_gid)
        site.write_text(site_config([s.port for s in app_servers], self.port, self.prefix, stamp=stamp,
                                    per_address=per_address, join_rate=join_rate,
                                    join_burst=join_burst, source=source))
        self.access_log = self.prefix / "ticketing.access.log"
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(main_config(self.prefix, site, user))
        argv = [executable(), "-p", str(self.prefix), "-e", str(self.prefix / "error.log"), "-c", str(self.conf)]
        check = subprocess.run([*argv, "-t", "-q"], capture_output=True, text=True)
        if check.returncode:
            raise RuntimeError(f"nginx -t refused {self.conf}: {check.stderr.strip()}")
        self._log = open(self.prefix / "stderr.log", "wb")
        self.process = subprocess.Popen([*argv, "-g", "daemon off;"], stdout=self._log, stderr=subprocess.STDOUT)
        self.ps = psutil.Process(self.process.pid)
        self._wait_ready()

    def _wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited at start-up; see {self.prefix}/error.log")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"nginx did not answer /healthz within {timeout}s; see {self.prefix}/error.log")

    def cpu_seconds(self):
        total = 0.0
        try:
            for process in [self.ps, *self.ps.children(recursive=True)]:
                times = process.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            pass
        return total

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: nginx's fast shutdown, workers included
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
