"""Pooled connections that died (a database restart, a proxy's idle timeout) cost no request:
there is no ping per checkout (production.ini), so the first statement on a dead connection
fails, SQLAlchemy drops the pool's connections and pyramid_retry runs the request again on a
fresh one (ticketing/models/__init__.py, decision 0016)."""
from sqlalchemy import event, text

from .catalogue_helpers import published_match


def _kill_app_connections(engine):
    with engine.connect() as conn:
        killed = conn.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'ticketing' AND pid <> pg_backend_pid()"
        )).scalar_one()
    engine.dispose()  # the test's own pool had some of them too
    return killed


def test_requests_survive_their_pooled_connections_dying(staff, customer, engine, wsgi_app):
    match, *_ = published_match(staff)
    holds_url = f"/api/v1/matches/{match['id']}/holds"
    customer.post("/api/v1/wallet/top-ups", {"amount": 100_000}, status=201)
    # Both app pools (the request's and the autocommit one) now hold live connections.
    first = customer.post(holds_url, {"quantity": 2}, headers={"Idempotency-Key": "warm-up"}, status=201)
    customer.post(f"/api/v1/holds/{first.json['id']}/checkout", headers={"Idempotency-Key": "warm-up-pay"}, status=201)

    lost = []

    def seen(context):
        if context.is_disconnect:
            lost.append(context.engine)

    engines = [wsgi_app.registry["db_engine"], wsgi_app.registry["db_autocommit_engine"]]
    for app_engine in engines:
        event.listen(app_engine, "handle_error", seen)
    try:
        assert _kill_app_connections(engine) >= 2
        hold = customer.post(holds_url, {"quantity": 2}, headers={"Idempotency-Key": "after-restart"}, status=201)
        order = customer.post(f"/api/v1/holds/{hold.json['id']}/checkout",
                              headers={"Idempotency-Key": "after-restart-pay"}, status=201)
    finally:
        for app_engine in engines:
            event.remove(app_engine, "handle_error", seen)
    assert lost, "the requests did meet dead connections (and were run again)"
    assert len(order.json["tickets"]) == 2
    # Nothing happened twice: two holds checked out, four tickets, one charge per order.
    with engine.connect() as conn:
        tickets = conn.execute(text("SELECT count(*) FROM tickets WHERE match_id = :m"), {"m": match["id"]}).scalar_one()
        payments = conn.execute(text("SELECT count(*) FROM wallet_ledger WHERE user_id = :u AND kind = 'payment'"),
                                {"u": customer.user["id"]}).scalar_one()
    assert (tickets, payments) == (4, 2)
