"""``alembic upgrade head`` while purchases run (issue 30): no purchase fails and none waits
for a lock longer than 1 s.

The purchases are the hot path's writes in SQL (lock the fan's wallet, claim a free seat with
``FOR UPDATE SKIP LOCKED``, write the hold, order, ticket, seat and ledger rows, pay), on the
columns the purchase tables have had since they were created, so the same buyers run against
the schema *before* the migrations and after every one of them, as a deployed previous
release would while ops migrate. Each purchase runs with ``lock_timeout = 1s``: a migration
that held a lock on a purchase table for longer makes a purchase fail.

The chain is never listed here: on the empty schema the test finds, going down one revision
at a time, the oldest revision that has the purchase tables; the sale is set up at head
(through the app), the database goes down to that revision with its rows, and from there every later migration, including ones added after this test, is applied
under the buyers.
"""
import threading
import time

import psycopg2
import webtest
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

import ticketing

from .. import database
from ..conftest import app_settings, make_user
from ..functional.catalogue_helpers import published_match

PURCHASE_TABLES = {"match_seats", "holds", "orders", "tickets", "wallets", "wallet_ledger"}
BUYERS = 6

_PURCHASE = """
    WITH wallet AS (
        SELECT user_id, balance FROM wallets WHERE user_id = %(u)s FOR UPDATE
    ), seat AS (
        SELECT seat_id, price FROM match_seats
        WHERE match_id = %(m)s AND status = 'available'
        ORDER BY seat_id LIMIT 1 FOR UPDATE SKIP LOCKED
    )
    INSERT INTO holds (match_id, user_id, seat_ids, total, currency, status, expires_at)
    SELECT %(m)s, %(u)s, ARRAY[seat.seat_id], seat.price, 'EUR', 'checked_out', now() + interval '10 minutes'
    FROM seat, wallet WHERE wallet.balance >= seat.price
    RETURNING id, seat_ids[1] AS seat_id, total
"""


def _purchase(cur, match_id, user_id):
    cur.execute(_PURCHASE, {"m": match_id, "u": user_id})
    hold = cur.fetchone()
    if hold is None:
        return None
    hold_id, seat_id, total = hold
    cur.execute("INSERT INTO orders (user_id, match_id, hold_id, total, currency) "
                "VALUES (%s, %s, %s, %s, 'EUR') RETURNING id", (user_id, match_id, hold_id, total))
    order_id = cur.fetchone()[0]
    cur.execute("UPDATE match_seats SET status = 'sold', order_id = %s WHERE match_id = %s AND seat_id = %s",
                (order_id, match_id, seat_id))
    cur.execute("INSERT INTO tickets (order_id, user_id, match_id, seat_id, price) VALUES (%s, %s, %s, %s, %s)",
                (order_id, user_id, match_id, seat_id, total))
    cur.execute("UPDATE wallets SET balance = balance - %s WHERE user_id = %s RETURNING balance", (total, user_id))
    balance = cur.fetchone()[0]
    cur.execute("INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, currency, order_id) "
                "VALUES (%s, 'payment', %s, %s, 'EUR', %s)", (user_id, total, balance, order_id))
    return order_id


def _revision(engine):
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _oldest_revision_with_purchase_tables(url, engine, script):
    while True:
        current = _revision(engine)
        below = script.get_revision(current).down_revision
        if below is None:
            return current
        database.downgrade(url, "-1")
        if not PURCHASE_TABLES <= set(inspect(engine).get_table_names()):
            database.migrate(url, current)
            return current


def test_upgrade_head_while_purchases_run():
    script = ScriptDirectory(str(database.ROOT / "alembic"))
    base = database.server_url()
    url, name = database.create_test_database(base)
    engine = create_engine(url)
    try:
        database.migrate(url, "head")
        start = _oldest_revision_with_purchase_tables(url, engine, script)  # found on the empty schema
        assert start != script.get_current_head(), "nothing to migrate during the sale"
        database.migrate(url, "head")
        app = webtest.TestApp(ticketing.main({}, **app_settings(url)), extra_environ={"REMOTE_ADDR": "127.0.0.1"})
        staff = make_user(app, engine, "staff")
        match, *_ = published_match(staff, seats_per_row=50, rows=40, prices=(1000,))
        fans = [make_user(app, engine).user["id"] for _ in range(BUYERS)]
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO wallets (user_id, balance, currency) SELECT unnest(CAST(:ids AS bigint[])), "
                              "10000000, 'EUR' ON CONFLICT (user_id) DO UPDATE SET balance = 10000000"), {"ids": fans})
            conn.execute(text("INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, currency) "
                              "SELECT unnest(CAST(:ids AS bigint[])), 'top_up', 10000000, 10000000, 'EUR'"),
                         {"ids": fans})
        engine.dispose()
        database.downgrade(url, start)  # the sale's rows stay: the purchase tables survive

        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        acknowledged, failures, durations, lock = [], [], [], threading.Lock()
        stop = threading.Event()

        def buyer(user_id):
            conn = psycopg2.connect(dsn, options="-c lock_timeout=1000 -c statement_timeout=10000")
            try:
                while not stop.is_set():
                    started = time.monotonic()
                    try:
                        with conn, conn.cursor() as cur:
                            order_id = _purchase(cur, match["id"], user_id)
                    except psycopg2.Error as error:
                        with lock:
                            failures.append(f"{type(error).__name__}: {error}".strip())
                        continue
                    with lock:
                        durations.append(time.monotonic() - started)
                        if order_id is not None:
                            acknowledged.append(order_id)
            finally:
                conn.close()

        threads = [threading.Thread(target=buyer, args=(fan,)) for fan in fans]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        before = len(acknowledged)
        migrated_at = time.monotonic()
        try:
            database.migrate(url, "head")
            migrating_s = time.monotonic() - migrated_at
            time.sleep(0.5)
            with lock:
                during_upgrade = (list(failures), len(acknowledged), max(durations))
            # The control: what a migration holding a purchase table for 1.5 s does to the same
            # buyers (an ALTER TABLE that rewrites it, a non-concurrent index build).
            with engine.begin() as conn:
                conn.execute(text("LOCK TABLE match_seats IN ACCESS EXCLUSIVE MODE"))
                conn.execute(text("SELECT pg_sleep(1.5)"))
            time.sleep(0.3)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        failed_during_upgrade, bought, slowest = during_upgrade
        print(f"upgrade {start} -> head in {migrating_s:.2f} s under {bought - before} purchases; "
              f"slowest purchase {slowest:.3f} s")
        assert _revision(engine) == script.get_current_head()
        assert failed_during_upgrade == [], f"purchases failed while migrating: {failed_during_upgrade[:5]}"
        assert before > 0 and bought > before, "the buyers did not run across the upgrade"
        assert slowest < 1.0, f"a purchase waited {slowest:.2f} s"
        assert any("LockNotAvailable" in failure for failure in failures), \
            "the control's 1.5 s lock did not fail a purchase: the test would not see a blocking migration"
        with engine.connect() as conn:
            stored = set(conn.execute(text("SELECT id FROM orders")).scalars())
            sold = conn.execute(text("SELECT count(*) FROM match_seats WHERE status = 'sold'")).scalar_one()
        assert set(acknowledged) == stored and sold == len(stored)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM match_seats")).scalar_one() == 2000
    finally:
        engine.dispose()
        database.drop_test_database(base, name)
