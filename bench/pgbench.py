r"""The database's ceiling: ``pgbench`` running a purchase script against a fresh 5,000-seat match.

Each script run is one purchase of two seats, so pgbench's tps is directly comparable with
the app's purchases/s. ``hot_path.sql`` is the lean claim-and-sell (the ceiling of the
headline ratio); ``app_path.sql`` is every statement the app sends, in its transactions. The
hot path also runs with ``-M prepared``: the app prepares its statements once per connection
(decision 0017), so PostgreSQL's ceiling without planning is the fairer yardstick for the
Python tier; the headline ratio keeps ``-M simple``, pgbench's default, which the issue's
figures were measured with. (``app_path.sql`` sends compound statements, ``\;``, which
pgbench's ``-M prepared`` cannot prepare, so it prepares its statements itself, with SQL
``PREPARE`` on each client's first purchase, as the app does per connection.) The transaction count is
fixed so that the match cannot run out of seats mid-run (a script that found no seats
would abort its client): ``clients x transactions <= 2,500``.
"""
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
SCRIPTS = {"hot_path": HERE / "hot_path.sql", "app_path": HERE / "app_path.sql"}


def executable():
    found = shutil.which("pgbench")
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True):
        return str(candidate)
    return None


def _connection_args(database_url):
    url = urlparse(database_url)
    args = ["-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    query = dict(part.split("=", 1) for part in url.query.split("&") if "=" in part)
    if "host" in query:  # a unix socket (embedded cluster)
        args[1] = query["host"]
    return args, url.path.lstrip("/")


def run(database_url, match_id, first_customer, last_customer, clients, script="hot_path", seats=5000, hold_seconds=600,
        mode="simple"):
    per_client = (seats // 2) // clients
    connection, dbname = _connection_args(database_url)
    argv = [
        executable(), "-n", "-M", mode, "-f", str(SCRIPTS[script]), "-c", str(clients), "-j", "2",
        "-t", str(per_client), "-r",
        "-D", f"match_id={match_id}", "-D", f"lo={first_customer}", "-D", f"stride={(last_customer - first_customer + 1) // clients}",
        "-D", f"hold_seconds={hold_seconds}", "-D", "prepared=0", *connection, dbname,
    ]
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if completed.returncode != 0:
        raise RuntimeError(f"pgbench failed:\n{completed.stdout}\n{completed.stderr}")
    out = completed.stdout
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", out).group(1))
    latency = float(re.search(r"latency average = ([\d.]+) ms", out).group(1))
    processed = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))
    failed = re.search(r"number of failed transactions: (\d+)", out)
    return {
        "script": f"bench/{SCRIPTS[script].name}",
        "clients": clients,
        "mode": mode,
        "purchases": processed,
        "tps": round(tps, 1),
        "seats_per_s": round(2 * tps, 1),
        "latency_avg_ms": latency,
        "failed": int(failed.group(1)) if failed else 0,
        "command": " ".join(["pgbench", *argv[1:-len(connection) - 1], "<db>"]),
    }
