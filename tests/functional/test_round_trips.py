"""A purchase's round trips to PostgreSQL, counted on the wire.

On a loaded 2-core machine every round trip costs both processes a few syscalls and a
scheduler hand-off, and it holds the fan's row locks a little longer (docs/decisions/0011,
0020). The app talks to PostgreSQL through a small TCP proxy here that counts the client's
simple-query messages (psycopg2 sends every statement, BEGIN and COMMIT as one 'Q' message
and waits for its answer), so a change that adds a round trip to the hot path fails this
test and has to say why.
"""
import socket
import struct
import threading

import pytest
import webtest
from sqlalchemy.engine import make_url

import ticketing
from ticketing.services import rate_limits

from ..conftest import app_settings, make_user
from .catalogue_helpers import published_match

SSL_OR_GSS_REQUESTS = {80877103, 80877104}


class CountingProxy:
    """Forwards TCP connections to PostgreSQL and counts the 'Q' messages clients send."""

    def __init__(self, upstream):
        self.upstream = upstream  # (family, address)
        self.queries = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def take(self):
        """The statements sent since the last call."""
        with self._lock:
            queries, self.queries = self.queries, []
        return queries

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.socket(self.upstream[0], socket.SOCK_STREAM)
            server.connect(self.upstream[1])
            threading.Thread(target=self._client_to_server, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, source, target):
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            target.close()

    def _client_to_server(self, client, server):
        buffer, started = b"", False
        try:
            while chunk := client.recv(65536):
                buffer += chunk
                while True:
                    if not started:  # untyped: an SSL/GSS request, then the startup message
                        if len(buffer) < 8:
                            break
                        length, code = struct.unpack("!II", buffer[:8])
                        if len(buffer) < length:
                            break
                        started = code not in SSL_OR_GSS_REQUESTS
                    else:
                        if len(buffer) < 5:
                            break
                        kind, length = buffer[:1], struct.unpack("!I", buffer[1:5])[0] + 1
                        if len(buffer) < length:
                            break
                        if kind == b"Q":
                            with self._lock:
                                self.queries.append(buffer[5:length - 1].decode("utf-8", "replace"))
                    server.sendall(buffer[:length])
                    buffer = buffer[length:]
        except OSError:
            pass
        finally:
            server.close()

    def close(self):
        self._listener.close()


@pytest.fixture
def counting_app(database_url, clean_db, engine, monkeypatch):
    url = make_url(database_url)
    socket_dir = url.query.get("host")
    if socket_dir:  # the embedded cluster listens on a unix socket
        upstream = (socket.AF_UNIX, f"{socket_dir}/.s.PGSQL.{url.port or 5432}")
    else:
        upstream = (socket.AF_INET, (url.host or "127.0.0.1", url.port or 5432))
    proxy = CountingProxy(upstream)
    proxied = url.set(host="127.0.0.1", port=proxy.port, query={"sslmode": "disable", "gssencmode": "disable"})
    # As production counts them: per-user limits on holds and checkouts (per-IP ones too;
    # each request counts all of its keys in one statement).
    settings = app_settings(proxied.render_as_string(hide_password=False), **{
        "ratelimit.holds_per_user": "100", "ratelimit.holds_per_ip": "1000",
        "ratelimit.checkouts_per_user": "100", "ratelimit.checkouts_per_ip": "1000",
    })
    monkeypatch.setattr(rate_limits.random, "random", lambda: 0.5)  # no stray counter purge
    app = webtest.TestApp(ticketing.main({}, **settings))
    yield app, proxy
    proxy.close()


def test_a_purchase_is_seventeen_round_trips(counting_app, engine):
    app, proxy = counting_app
    staff = make_user(app, engine, "staff")
    match, *_ = published_match(staff, seats_per_row=20, rows=4, prices=(2500,))
    fans = [make_user(app, engine, "customer") for _ in range(2)]

    def purchase(fan, key):
        fan.post("/api/v1/wallet/top-ups", {"amount": 50_000}, status=201)
        proxy.take()
        hold = fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201).json
        held = proxy.take()
        fan.post(f"/api/v1/holds/{hold['id']}/checkout", headers={"Idempotency-Key": key}, status=201)
        return held, proxy.take()

    purchase(fans[0], "warm-up")  # the pools' connections are opened and the statements prepared
    hold, checkout = purchase(fans[1], "counted")
    assert [q.split(" ", 1)[0] for q in hold] == [
        "BEGIN",
        "EXECUTE",  # traversal: the match
        "EXECUTE",  # the security policy: the caller's account, active with this role?
        "SET",  # the per-user and per-IP counters, one upsert (with SET LOCAL: one round trip)
        "EXECUTE",  # the fan's wallet, locked
        "EXECUTE",  # on sale? previous hold, tickets owned, the new hold's id, the block plan
        "SAVEPOINT",  # the claim of the best block in its savepoint, the hold row, the version bump
        "COMMIT",
    ], hold
    assert [q.split(" ", 1)[0] for q in checkout] == [
        "BEGIN",
        "EXECUTE",  # the security policy: the caller's account (before any lookup of an id)
        "EXECUTE",  # traversal: the hold
        "SET",  # the counters and the Idempotency-Key's claim, one statement
        "EXECUTE",  # the fan's wallet, then the hold, locked
        "EXECUTE",  # pay and issue
        "EXECUTE",  # the receipt, queued in the mail outbox (composed later by the sender: 0055)
        "EXECUTE",  # the response recorded on the key
        "COMMIT",
    ], checkout
    assert "idempotency_count_and_claim" in checkout[3] and "hold_on_sale_with_blocks" in hold[5]
    assert "hold_claim_block_and_insert" in hold[6]
    assert "checkout_lock_wallet_and_hold" in checkout[4] and "mail_enqueue_for_sender" in checkout[6]
