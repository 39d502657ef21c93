"""Crash safety: kill -9 the app and crash PostgreSQL in the middle of a purchase burst.

Real processes: a throwaway PostgreSQL cluster and the app served by pserve/waitress, driven
over HTTP by client threads. Afterwards every checkout a client saw succeed is stored, no
seat is in two valid tickets, wallets equal ledgers, leftover holds carry their expiry, the
app reconnected to the database by itself, and /healthz told the truth while it was down.
"""
import threading
import time

import pytest
import requests
from sqlalchemy import create_engine, text

from .. import database
from ..invariants import assert_invariants
from ..live_server import seed_sale, start_app
from .throwaway_cluster import ThrowawayCluster, free_port

SEATS, BUYERS = 400, 24


@pytest.mark.slow
def test_purchases_survive_app_kill_and_database_crash(tmp_path):
    cluster = ThrowawayCluster().init()
    cluster.start()
    app = None
    try:
        db_url, _ = database.create_test_database(cluster.url())
        database.migrate(db_url)
        engine = create_engine(db_url, pool_pre_ping=True)
        app, settings = start_app(db_url, tmp_path, free_port())
        match_id, fans = seed_sale(engine, settings, app.url, SEATS, BUYERS)

        seen_orders, errors, stop = [], [], threading.Event()
        lock = threading.Lock()

        def buyer(headers):
            session = requests.Session()
            while not stop.is_set():
                try:
                    hold = session.post(app.url(f"/api/v1/matches/{match_id}/holds"), json={"quantity": 1},
                                        headers=headers, timeout=10)
                    if hold.status_code != 201:
                        time.sleep(0.01)
                        continue
                    order = session.post(app.url(f"/api/v1/holds/{hold.json()['id']}/checkout"), headers=headers, timeout=10)
                    if order.status_code == 201:
                        with lock:
                            seen_orders.append(order.json()["id"])
                    elif order.status_code >= 500 and order.status_code != 503:
                        errors.append(order.status_code)
                except requests.RequestException:
                    time.sleep(0.05)  # the app is down: keep trying, like a real client

        threads = [threading.Thread(target=buyer, args=(fan,)) for fan in fans]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        app.kill9()                                    # 1. the app dies mid-burst
        time.sleep(0.5)
        app.start()
        time.sleep(1.5)
        cluster.crash()                                # 2. the database dies mid-burst
        health = requests.get(app.url("/healthz"), timeout=5)
        assert health.status_code == 503 and health.json()["database"] == "unreachable"
        time.sleep(0.5)
        cluster.start()
        deadline = time.monotonic() + 20                # 3. the app reconnects by itself
        while requests.get(app.url("/healthz"), timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "the app did not reconnect to the database"
            time.sleep(0.2)
        time.sleep(1.5)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

        assert seen_orders, "no purchase completed: the burst never ran"
        print(f"crash test: {len(seen_orders)} acknowledged purchases across an app kill -9 and a database crash")
        assert not errors, f"unexpected server errors: {errors}"
        with engine.connect() as conn:
            stored = set(conn.execute(text("SELECT id FROM orders WHERE status = 'paid'")).scalars())
            assert set(seen_orders) <= stored, f"acknowledged orders lost: {set(seen_orders) - stored}"
            misaligned = conn.execute(text(
                "SELECT count(*) FROM match_seats ms JOIN holds h ON h.id = ms.hold_id "
                "WHERE ms.status = 'held' AND (ms.held_until <> h.expires_at OR h.expires_at > now() + interval '10 minutes')"
            )).scalar_one()
            assert misaligned == 0, "a hold left behind would not expire on time"
        assert_invariants(engine)
        engine.dispose()
    finally:
        if app is not None:
            app.stop()
        cluster.destroy()
