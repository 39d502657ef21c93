"""An Idempotency-Key claimed on a primary that then dies is free at once on the promoted
standby, and only there (ticketing/services/idempotency.py, decision 0036).

Plain PostgreSQL streaming replication, no failover engine: a throwaway primary, a standby
cloned from it with pg_basebackup, a claim made on the primary and replicated, the standby
promoted. On the promoted standby the same key is taken over at once: its first request ran
against the old primary and can never record there. The control is the old primary itself,
which was never a standby: there the claim still answers "still being processed", as it would
for a minute on the promoted standby without the rule.
"""
import time

import pytest
from sqlalchemy import create_engine, text

from ticketing.problems import Conflict
from ticketing.services import idempotency

from .. import database
from ..hardening.throwaway_cluster import ThrowawayCluster

pytestmark = pytest.mark.slow


class Standby(ThrowawayCluster):
    """A streaming standby of ``primary``, cloned with pg_basebackup (``-R``: it follows it)."""

    def clone(self, primary):
        self._pg("pg_basebackup", "-D", str(self.data), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                 "-R", "--checkpoint=fast", "--wal-method=stream")
        return self

    def promote(self):
        self._pg("pg_ctl", "-D", str(self.data), "-w", "promote")


def _autocommit(url):
    return create_engine(url, isolation_level="AUTOCOMMIT")


def test_a_claim_from_before_the_promotion_is_taken_over_at_once():
    primary = ThrowawayCluster().init()
    primary.start()
    standby = Standby()
    try:
        url, name = database.create_test_database(primary.url())
        database.migrate(url)
        on_primary = _autocommit(url)
        with on_primary.connect() as conn:
            user_id = conn.execute(text("INSERT INTO users (email, full_name, password_hash) "
                                        "VALUES ('claims@example.com', 'Fan', 'x') RETURNING id")).scalar_one()
        standby.clone(primary).start()
        fingerprint = idempotency.request_fingerprint("POST", "/api/v1/holds/1/checkout", b"")
        claim = idempotency.begin(on_primary, user_id, "pay-1", "checkout", fingerprint)
        assert isinstance(claim, idempotency.Claim)
        with on_primary.connect() as conn:  # a commit after the claim, as the burst's next purchase
            lsn = conn.execute(text("SELECT txid_current(), pg_current_wal_lsn()::text")).one()[1]
        on_standby = _autocommit(standby.url(name))
        deadline = time.monotonic() + 30
        with on_standby.connect() as conn:
            while not conn.execute(text("SELECT pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)"), {"lsn": lsn}).scalar():
                assert time.monotonic() < deadline, "the standby did not replay the claim"
                time.sleep(0.1)
        standby.promote()  # the failover: the primary's requests are gone with it

        retried = idempotency.begin(on_standby, user_id, "pay-1", "checkout", fingerprint)
        assert isinstance(retried, idempotency.Claim), "the retry must run now, not be told to wait"
        assert retried.claimed_at > claim.claimed_at
        # Control: the same claim where no promotion happened is still "being processed".
        with pytest.raises(Conflict, match="still being processed"):
            idempotency.begin(on_primary, user_id, "pay-1", "checkout", fingerprint)
        on_primary.dispose()
        on_standby.dispose()
    finally:
        standby.destroy()
        primary.destroy()
