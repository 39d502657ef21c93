"""A point-in-time restore with pgBackRest, as the sale-day runbook does it (issue 30):

1. a throwaway cluster is set up by deploy/backup/pgbackrest-setup.sh (WAL archiving, a full
   backup); purchases run, an incremental backup is taken, more purchases run;
2. the time T is noted, then staff cancel the match by mistake;
3. deploy/backup/pitr-restore.sh restores T into a fresh data directory;
4. every order acknowledged before T is there and paid, the cancellation is not, and every
   invariant holds.

Never the shared 5432 server: the cluster lives under a temp directory (initdb) and is removed.
"""
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from .. import database
from ..hardening.throwaway_cluster import ThrowawayCluster, free_port
from ..invariants import assert_invariants
from ..live_server import seed_sale, start_app
from ..system_packages import require

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "backup"


def _deployed_scripts(cluster):
    """The backup scripts copied where the cluster's owner can run them, as ops install them.

    The checkout itself may sit under a directory only its owner can enter (a private home,
    ``mktemp -d``): ``postgres`` could not execute deploy/backup/ from there.
    """
    target = cluster.root / "deploy-backup"
    target.mkdir()
    for script in ("pgbackrest-setup.sh", "pitr-restore.sh"):
        shutil.copy2(DEPLOY / script, target / script)
    if cluster.user is not None:
        for path in (target, *target.iterdir()):
            os.chown(path, cluster.user.pw_uid, cluster.user.pw_gid)
    return target


def _as_cluster_owner(cluster, argv, env, timeout=180):
    command = ["env", *(f"{k}={v}" for k, v in env.items()), *argv]
    if cluster.user is not None:
        command = ["runuser", "-u", cluster.user.pw_name, "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{argv[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _buy(app, match_id, fans, seconds):
    """Fans buy one seat at a time for ``seconds``; returns the acknowledged order ids."""
    acknowledged, lock, stop = [], threading.Lock(), threading.Event()

    def buyer(headers):
        session = requests.Session()
        while not stop.is_set():
            hold = session.post(app.url(f"/api/v1/matches/{match_id}/holds"), json={"quantity": 1},
                                headers=headers, timeout=10)
            if hold.status_code == 201:
                order = session.post(app.url(f"/api/v1/holds/{hold.json()['id']}/checkout"), headers=headers,
                                     timeout=10)
                if order.status_code == 201:
                    with lock:
                        acknowledged.append(order.json()["id"])

    threads = [threading.Thread(target=buyer, args=(fan,)) for fan in fans]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    return acknowledged


@pytest.mark.slow
def test_restore_to_the_moment_before_a_mistaken_cancellation(tmp_path):
    require(shutil.which("pgbackrest"), "pgbackrest", "the point-in-time restore test")
    cluster = ThrowawayCluster().init()
    cluster.start()
    restored = None
    app = None
    env = {"STANZA": "ticketing", "PGDATA": cluster.data, "PGPORT": cluster.port, "PGSOCKET": cluster.root,
           "PGBIN": cluster.bin, "REPO": cluster.root / "repo", "CONFIG": cluster.root / "pgbackrest.conf",
           "LOGDIR": cluster.root / "pgbackrest-log", "LOCKDIR": cluster.root / "pgbackrest-lock",
           "RESTART": f"{cluster.bin}/pg_ctl -D {cluster.data} -w -l {cluster.root}/log restart"}
    try:
        scripts = _deployed_scripts(cluster)
        _as_cluster_owner(cluster, [str(scripts / "pgbackrest-setup.sh")], env)  # archiving + full backup
        db_url, _ = database.create_test_database(cluster.url())
        database.migrate(db_url)
        engine = create_engine(db_url)
        app, settings = start_app(db_url, tmp_path, free_port())
        match_id, fans = seed_sale(engine, settings, app.url, 200, 8, name="pitr", max_tickets_per_fan=50)
        before_incremental = _buy(app, match_id, fans, 1.0)
        _as_cluster_owner(cluster, ["pgbackrest", f"--config={env['CONFIG']}", "--stanza=ticketing",
                                    "--type=incr", "backup"], env)
        after_incremental = _buy(app, match_id, fans, 1.0)
        acknowledged = before_incremental + after_incremental
        assert before_incremental and after_incremental, "a purchase wave never ran"

        with engine.connect() as conn:
            moment = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
        time.sleep(1.1)  # the mistake comes strictly after T, as it would
        staff = seed_staff_header(engine, settings)
        cancelled = requests.post(app.url(f"/api/v1/matches/{match_id}/cancel"), headers=staff, timeout=30)
        assert cancelled.status_code == 200, cancelled.text
        app.stop()
        # Every WAL segment up to now reaches the repository (check switches WAL and waits).
        _as_cluster_owner(cluster, ["pgbackrest", f"--config={env['CONFIG']}", "--stanza=ticketing", "check"], env)

        restored = cluster.root / "restored"
        started = time.monotonic()
        _as_cluster_owner(cluster, [str(scripts / "pitr-restore.sh"), moment.isoformat(sep=" "), restored], env)
        port = free_port()
        _as_cluster_owner(cluster, [f"{cluster.bin}/pg_ctl", "-D", restored, "-l", cluster.root / "restored.log",
                                    "-o", f"-p {port} -k {cluster.root} -c listen_addresses=127.0.0.1 "
                                          "-c archive_mode=off", "-w", "start"], env)
        restored_url = db_url.replace(f":{cluster.port}/", f":{port}/")
        restored_engine = create_engine(restored_url)
        deadline = time.monotonic() + 60
        while True:
            try:
                with restored_engine.connect() as conn:
                    if not conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one():
                        break
            except Exception:  # still starting
                pass
            assert time.monotonic() < deadline, "the restored cluster did not finish recovery"
            time.sleep(0.2)
        print(f"point-in-time restore: {len(acknowledged)} orders, restored and recovered in "
              f"{time.monotonic() - started:.1f} s")

        with restored_engine.connect() as conn:
            status = conn.execute(text("SELECT status FROM matches WHERE id = :m"), {"m": match_id}).scalar_one()
            paid = set(conn.execute(text("SELECT id FROM orders WHERE status = 'paid'")).scalars())
            refunds = conn.execute(text("SELECT count(*) FROM wallet_ledger WHERE kind = 'refund'")).scalar_one()
        assert status == "on_sale", "the mistaken cancellation came back with the restore"
        assert set(acknowledged) <= paid, f"acknowledged orders lost: {set(acknowledged) - paid}"
        assert refunds == 0
        assert_invariants(restored_engine)
        # The live cluster did cancel (the restore is of the past, not a lost write).
        with engine.connect() as conn:
            assert conn.execute(text("SELECT status FROM matches WHERE id = :m"),
                                {"m": match_id}).scalar_one() == "cancelled"
        restored_engine.dispose()
        engine.dispose()
    finally:
        if app is not None:
            app.stop()
        if restored is not None and restored.exists():
            subprocess.run(["runuser", "-u", cluster.user.pw_name, "--"] * (cluster.user is not None)
                           + [f"{cluster.bin}/pg_ctl", "-D", str(restored), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)
        cluster.destroy()


def seed_staff_header(engine, settings):
    """A staff member's Authorization header, minted as /auth/login would."""
    import uuid

    from ticketing.services import passwords, tokens

    with engine.begin() as conn:
        staff_id = conn.execute(text(
            "INSERT INTO users (email, full_name, password_hash, role) VALUES ('pitr-admin@example.com', 'Admin', "
            ":h, 'admin') RETURNING id"), {"h": passwords.hash_password("pitch-side-42", rounds=4)}).scalar_one()

    class _User:
        id, role = staff_id, "admin"

    return {"Authorization": "Bearer " + tokens.issue_access_token(tokens.TokenSettings(settings), _User(),
                                                                   uuid.uuid4())}
