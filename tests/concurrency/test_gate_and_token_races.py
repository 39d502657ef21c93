"""A gate scan racing the fan's cancellation, and a refresh racing its family's revocation:
each interleaving is forced with a transaction the test holds open at the critical point."""
import threading

from sqlalchemy import text
from sqlalchemy.orm import Session

from ticketing.services import check_in as check_in_service
from ticketing.services import tokens

from ..functional.catalogue_helpers import published_match
from ..invariants import assert_invariants
from .conftest import wait_for_a_lock_wait


def _in_background(results, name, call):
    worker = threading.Thread(target=lambda: results.update({name: call()}))
    worker.start()
    return worker


def test_a_ticket_being_scanned_at_the_gate_cannot_be_cancelled_and_refunded(staff, customers, engine):
    """The scan has admitted the ticket, uncommitted, when the fan cancels the order. The
    cancellation locks the order's tickets before counting the admitted ones, so it waits for
    the scan and then refuses. (Counting without the lock saw 0, the void then waited for the
    scan and went through: the fan inside and refunded.)"""
    match, *_ = published_match(staff, prices=(1000,))
    (fan,) = customers(1)
    hold = fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201).json
    order = fan.post(f"/api/v1/holds/{hold['id']}/checkout", status=201).json
    ticket = order["tickets"][0]

    gate = engine.connect()  # the gate's check-in, between its update and its commit
    scan = gate.begin()
    with engine.connect() as conn:
        version = conn.execute(text("SELECT code_version FROM tickets WHERE id = :t"), {"t": ticket["id"]}).scalar_one()
    admitted = gate.execute(check_in_service._ADMIT, {
        "staff_id": staff.user["id"], "ticket_id": ticket["id"], "match_id": match["id"],
        "seat_id": ticket["seat"]["id"], "version": version}).one_or_none()
    assert admitted is not None
    results = {}
    worker = _in_background(results, "cancel", lambda: fan.post(f"/api/v1/orders/{order['id']}/cancel",
                                                                expect_errors=True))
    try:
        wait_for_a_lock_wait(engine)
    finally:
        scan.commit()
        gate.close()
    worker.join(timeout=30)

    assert results["cancel"].status_int == 409
    assert "already been used at the gate" in results["cancel"].json["detail"]
    with engine.connect() as conn:
        statuses = conn.execute(text("SELECT status FROM tickets WHERE order_id = :o"), {"o": order["id"]}).scalars().all()
    assert statuses == ["valid", "valid"]
    assert fan.get("/api/v1/wallet").json["balance"] == 100_000 - order["total"]
    assert_invariants(engine)


def test_a_reused_refresh_token_revokes_the_successor_a_refresh_is_creating(anonymous, user_factory, engine, wsgi_app):
    """A thief refreshes T2 (locking it, inserting T3, not committed yet) while the owner
    presents the already rotated T1. The owner's reuse revokes the family: it waits for the
    thief's lock and then revokes again until nothing is left, so T3 dies too. (One UPDATE
    missed T3, which was not in its snapshot, and the thief kept a live token.)"""
    fan = user_factory()
    first = fan.user["refresh_token"]
    second = anonymous.post("/api/v1/auth/refresh", {"refresh_token": first}, status=200).json["refresh_token"]

    thief = Session(bind=engine)
    third = tokens.rotate_refresh_token(thief, wsgi_app.registry["token_settings"], second)["refresh_token"]
    results = {}
    worker = _in_background(results, "owner", lambda: anonymous.post(
        "/api/v1/auth/refresh", {"refresh_token": first}, expect_errors=True))
    try:
        wait_for_a_lock_wait(engine)
    finally:
        thief.commit()
        thief.close()
    worker.join(timeout=30)

    assert results["owner"].status_int == 401
    anonymous.post("/api/v1/auth/refresh", {"refresh_token": third}, status=401)
    with engine.connect() as conn:
        live = conn.execute(text("SELECT count(*) FROM refresh_tokens WHERE user_id = :u AND revoked_at IS NULL"),
                            {"u": fan.user["id"]}).scalar_one()
    assert live == 0


def _lock_waiters(engine):
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )).scalar_one()


def test_a_request_whose_key_a_retry_took_over_keeps_nothing(customer, engine):
    """Request A claims its Idempotency-Key and stalls (here: on the fan's wallet, held by the
    test) past the 60 s after which a claim counts as abandoned; its retry B takes the key
    over. Whichever finishes first, the key's effects happen once: A's record no longer
    matches the key's claim, so A fails and its transaction, top-up included, rolls back,
    and its release leaves B's claim alone. (Recording by user and key alone let both
    commit: two top-ups for one key.)"""
    key = {"Idempotency-Key": "slow-top-up"}
    customer.post("/api/v1/wallet/top-ups", {"amount": 100}, status=201)  # the wallet exists
    before = customer.get("/api/v1/wallet").json["balance"]
    blocker = engine.connect()
    held = blocker.begin()
    blocker.execute(text("SELECT 1 FROM wallets WHERE user_id = :u FOR UPDATE"), {"u": customer.user["id"]})
    results = {}
    first = _in_background(results, "A", lambda: customer.post("/api/v1/wallet/top-ups", {"amount": 700},
                                                               headers=key, expect_errors=True))
    try:
        wait_for_a_lock_wait(engine)  # A has claimed the key and waits for the wallet
        with engine.begin() as conn:  # ... for more than a minute, as far as the key can tell
            conn.execute(text("UPDATE idempotency_keys SET created_at = created_at - interval '2 minutes' "
                              "WHERE user_id = :u AND key = :k"), {"u": customer.user["id"], "k": key["Idempotency-Key"]})
        retry = _in_background(results, "B", lambda: customer.post("/api/v1/wallet/top-ups", {"amount": 700},
                                                                   headers=key, expect_errors=True))
        deadline = threading.Event()
        while _lock_waiters(engine) < 2 and not deadline.wait(0.02):
            pass  # B took the key over and waits for the wallet too
    finally:
        held.rollback()
        blocker.close()
    first.join(timeout=30)
    retry.join(timeout=30)

    assert sorted(r.status_int for r in results.values()) == [201, 409]
    loser = next(r for r in results.values() if r.status_int == 409)
    assert loser.json["type"].endswith("idempotency-key-taken-over")
    winner = next(r for r in results.values() if r.status_int == 201)
    assert customer.get("/api/v1/wallet").json["balance"] == before + 700  # once
    replay = customer.post("/api/v1/wallet/top-ups", {"amount": 700}, headers=key, status=201)
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json == winner.json
    assert_invariants(engine)
