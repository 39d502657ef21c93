"""Lose the database host mid-sale, lose no paid order (invariant 9, decision 0036).

A real pg_auto_failover cluster (``deploy/ha-cluster.sh``: a monitor, a primary and its
synchronous standby on 127.0.0.1) under the app served by pserve/waitress, driven over HTTP
by buyer threads (tests/failover/buyers.py). The app knows both nodes through one libpq URL
with ``target_session_attrs=read-write`` and is never restarted or reconfigured.

1. Failover: during a burst of purchases the primary's host dies (kill -9 of its postmaster,
   backends and pg_autoctl at once). The engine promotes the standby; the app carries on;
   clients see clean 503s meanwhile, and their retried checkouts come back as the original
   order or as one new order. Every 2xx purchase exists afterwards with its ticket, on both
   nodes once the old primary has rejoined as the standby; no seat is sold twice; every
   wallet equals its ledger.
2. Partition: the standby stops answering while purchases run. Commits wait for it, none is
   acknowledged, until the monitor declares it unhealthy; then the monitor switches the
   primary to asynchronous replication (wait_primary), logs that decision, and commits go
   on. Once the standby is back and caught up, replication is synchronous again and every
   acknowledged order is on both nodes.
"""
import time

import pytest
from sqlalchemy import create_engine, text

from ticketing.models import sqlalchemy_url

from .. import database
from ..hardening.throwaway_cluster import free_port
from ..invariants import assert_invariants
from ..live_server import seed_sale, start_app
from .buyers import Sale
from .ha import HaCluster, require_engine

pytestmark = pytest.mark.slow

SEATS, BUYERS = 2000, 16
#: Purchases acknowledged before the primary's host dies, and at least this many after.
BEFORE_KILL, AFTER_RECOVERY = 130, 90


@pytest.fixture(scope="module")
def ha():
    require_engine()
    cluster = HaCluster().start()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def live(ha, tmp_path_factory):
    """A migrated database on the pair and the app on it, through the multi-host URL."""
    url, name = database.create_test_database(sqlalchemy_url(ha.uri()))
    database.migrate(url)
    # The app gets the URL as ops would write it: libpq's list of hosts (both nodes).
    app_url = ha.uri().replace("/ticketing?", f"/{name}?")
    app, settings = start_app(app_url, tmp_path_factory.mktemp("app-on-ha"), free_port())
    engine = create_engine(url, pool_pre_ping=True)  # the test's own checks follow the primary too
    try:
        yield app, settings, engine, name
    finally:
        app.stop()
        engine.dispose()


def _orders_everywhere(ha, database_name, purchases, nodes):
    """Every acknowledged order, paid with its one valid ticket, on each of ``nodes``."""
    ids = [p.order_id for p in purchases]
    for node in nodes:
        (found,), = ha.node(node, """
            SELECT count(*) FROM orders o
            WHERE o.id = ANY(%s) AND o.status = 'paid'
              AND (SELECT count(*) FROM tickets t WHERE t.order_id = o.id AND t.status = 'valid') = 1""",
                            (ids,), dbname=database_name)
        assert found == len(ids), f"{node} has {found} of the {len(ids)} acknowledged orders"


def _caught_up(ha, primary, standby):
    """The standby has replayed everything the primary has written."""
    (target,), = ha.node(primary, "SELECT pg_current_wal_lsn()::text")
    (done,), = ha.node(standby, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,))
    return done


def _served_cleanly(sale):
    """No 500, no unanswered request: every refusal a 503 problem+json with Retry-After."""
    statuses = {}
    for response in sale.responses:
        statuses[response.status] = statuses.get(response.status, 0) + 1
        if response.status == 503:
            assert response.content_type.startswith("application/problem+json"), response
            assert response.retry_after, response
    assert None not in statuses and not any(s >= 500 and s != 503 for s in statuses), statuses
    assert not sale.unresolved, f"keys that never resolved: {sale.unresolved[:5]}"
    return statuses


def test_the_standby_takes_over_when_the_primary_host_dies(ha, live):
    app, settings, engine, name = live
    old_primary, standby = ha.role("primary"), ha.role("secondary")
    match_id, fans = seed_sale(engine, settings, app.url, SEATS, BUYERS, "failover", max_tickets_per_fan=50)
    began = time.time()
    sale = Sale(app, match_id, fans).start()
    try:
        sale.wait_for_purchases(BEFORE_KILL)
        killed_at = time.time()
        ha.lose_host(old_primary)
        # Promoted, it runs as wait_primary (no standby to wait for) until the old primary is back.
        ha.wait_until("the standby's promotion",
                      lambda: ha.states()[standby] == ("wait_primary", "wait_primary"), timeout=60)
        failed = sale.failures_after(killed_at)
        assert failed, "no request noticed the primary's death"
        first_failure = min(r.at for r in failed)
        while not sale.purchases_after(first_failure):
            assert time.time() - killed_at < 60, "no purchase after the failover"
            time.sleep(0.05)
        back = min(p.at for p in sale.purchases_after(first_failure))
        sale.wait_for_purchases(sale.acknowledged() + AFTER_RECOVERY)
    finally:
        sale.finish()
    finished = time.time()
    window = back - first_failure
    statuses = _served_cleanly(sale)
    retried = [p for p in sale.purchases if p.checkout_attempts > 1]
    replayed = [p for p in retried if p.replayed]
    print(f"\nfailover: {len(sale.purchases)} acknowledged purchases; outage window seen by clients "
          f"{window:.2f} s (first failed request {first_failure - killed_at:.2f} s after the kill, first "
          f"purchase {back - killed_at:.2f} s after it); {len(retried)} checkouts retried with their key "
          f"({len(replayed)} answered with the original order, {len(retried) - len(replayed)} made it anew; "
          f"the slowest resolved in {max(p.checkout_seconds for p in retried):.1f} s); "
          f"statuses {statuses}")
    assert len(sale.purchases) >= BEFORE_KILL + AFTER_RECOVERY
    assert retried, "no checkout was running when the primary died: the burst did not test the retry"

    # The old primary comes back as the standby of the new one (pg_rewind), by starting its keeper.
    ha.start()
    rejoined = time.time()
    assert ha.states() == {standby: ("primary", "primary"), old_primary: ("secondary", "secondary")}
    (sync,), = ha.node(standby, "SHOW synchronous_standby_names")
    assert sync.startswith("ANY 1"), sync

    engine.dispose()  # its pooled connections went with the old primary
    with engine.connect() as conn:
        paid = set(conn.execute(text("SELECT id FROM orders WHERE match_id = :m AND status = 'paid'"),
                                {"m": match_id}).scalars())
    acknowledged = {p.order_id for p in sale.purchases}
    # Every client resolved its keys, so every order made is one a client was told of, once.
    assert paid == acknowledged, (f"lost: {sorted(acknowledged - paid)[:10]}, "
                                  f"never acknowledged: {sorted(paid - acknowledged)[:10]}")
    assert len(acknowledged) == len(sale.purchases), "one order acknowledged to two purchases"
    assert_invariants(engine)
    ha.wait_until("the rejoined standby to catch up", lambda: _caught_up(ha, standby, old_primary))
    _orders_everywhere(ha, name, sale.purchases, [standby, old_primary])
    print(f"phases: burst before the kill {killed_at - began:.1f} s, kill to the end of the sale "
          f"{finished - killed_at:.1f} s, rejoin {rejoined - finished:.1f} s, checks {time.time() - rejoined:.1f} s")


def test_commits_wait_for_a_cut_off_standby_until_the_monitor_decides(ha, live):
    app, settings, engine, name = live
    primary, standby = ha.role("primary"), ha.role("secondary")
    assert primary and standby, ha.states()
    match_id, fans = seed_sale(engine, settings, app.url, SEATS, BUYERS, "partition", max_tickets_per_fan=50)
    sale = Sale(app, match_id, fans).start()
    names = []
    try:
        sale.wait_for_purchases(40)
        cut_at = time.time()
        ha.cut_off(standby)
        try:
            asynchronous_since = None
            while True:  # watch the primary's own setting while the standby is away
                (names_now,), = ha.node(primary, "SHOW synchronous_standby_names")
                names.append((time.time(), names_now))
                if names_now == "" and asynchronous_since is None:
                    asynchronous_since = names[-1][0]
                if asynchronous_since and len(sale.purchases_after(asynchronous_since)) >= 40:
                    break
                assert time.time() - cut_at < 60, (
                    f"purchases did not go on without the standby: {ha.states()}, synchronous_standby_names "
                    f"{names[-1][1]!r}, {len(sale.purchases_after(cut_at))} purchases since the cut, "
                    f"{sale.responses[-5:]}")
                time.sleep(0.1)
        finally:
            ha.reconnect(standby)
        ha.wait_until("the standby to catch up and replication to be synchronous again",
                      lambda: ha.states() == {primary: ("primary", "primary"), standby: ("secondary", "secondary")})
    finally:
        sale.finish()
    events = ha.events_since(cut_at - 1)
    decisions = [at for at, node, _, goal, _ in events if node == primary and goal == "wait_primary"]
    assert decisions, f"the monitor logged no decision to go asynchronous: {events}"
    decided_at = decisions[0]
    logged = [description for at, node, _, goal, description in events if at == decided_at and goal == "wait_primary"]
    blocked = [p for p in sale.purchases if cut_at + 0.3 < p.at < decided_at]
    first_after = min(p.at for p in sale.purchases if p.at > cut_at + 0.3)
    print(f"\npartition: standby cut off at +0.00 s; monitor decided asynchronous replication at "
          f"+{decided_at - cut_at:.2f} s (\"{logged[0]}\"); first purchase acknowledged after the cut at "
          f"+{first_after - cut_at:.2f} s; {len(sale.purchases)} purchases in all, statuses {_served_cleanly(sale)}")
    # Synchronous commit held every commit back while the standby was away: nothing was
    # acknowledged on one node before the engine had decided (and logged) that it would be.
    assert not blocked, f"{len(blocked)} purchases acknowledged on the primary alone before the monitor decided"
    assert first_after >= decided_at
    assert "none of the standby nodes in the quorum are healthy" in logged[0]
    assert any(value == "" for _, value in names), names
    (sync,), = ha.node(primary, "SHOW synchronous_standby_names")
    assert sync.startswith("ANY 1"), sync
    assert_invariants(engine)
    ha.wait_until("the standby to replay the asynchronous commits", lambda: _caught_up(ha, primary, standby))
    _orders_everywhere(ha, name, sale.purchases, [primary, standby])
