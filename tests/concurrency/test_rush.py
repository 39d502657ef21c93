"""Races through the full WSGI app against the real PostgreSQL, then the invariants in SQL."""
import collections

from sqlalchemy import text

from ..functional.catalogue_helpers import published_match
from ..invariants import assert_invariants
from .conftest import race


def _status(response):
    return response.status_int


def test_200_buyers_best_available_on_50_seats(staff, customers, engine):
    match, *_ = published_match(staff, seats_per_row=10, rows=5, prices=(2000,))
    buyers = customers(200)

    def buy(fan):
        def attempt():
            hold = fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, expect_errors=True)
            if hold.status_int != 201:
                return ("hold", hold.status_int)
            order = fan.post(f"/api/v1/holds/{hold.json['id']}/checkout", expect_errors=True)
            return ("checkout", order.status_int)
        return attempt

    results = collections.Counter(race([buy(fan) for fan in buyers]))
    assert results == {("checkout", 201): 50, ("hold", 409): 150}, results
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tickets WHERE status = 'valid'")).scalar_one() == 50
        assert conn.execute(text("SELECT count(*) FROM match_seats WHERE status = 'available'")).scalar_one() == 0
    assert_invariants(engine)


def test_overlapping_multi_seat_holds_in_opposite_orders_never_deadlock(staff, customers, engine, anonymous):
    match, *_ = published_match(staff, seats_per_row=8, rows=1, prices=(1000,))
    seat_ids = [seat[0] for seat in anonymous.get(f"/api/v1/matches/{match['id']}/seats").json["seats"]]
    fans = customers(60)
    requests = [seat_ids[0:4], list(reversed(seat_ids[0:4])), seat_ids[2:6], list(reversed(seat_ids[3:8]))]

    def hold(fan, wanted):
        return lambda: fan.post(f"/api/v1/matches/{match['id']}/holds", {"seat_ids": wanted}, expect_errors=True)

    responses = race([hold(fan, requests[i % len(requests)]) for i, fan in enumerate(fans)])
    statuses = collections.Counter(r.status_int for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    assert statuses[201] >= 1
    for response in responses:
        if response.status_int == 409:
            assert response.json["taken_seat_ids"], response.json
    winners = [set(s["id"] for s in r.json["seats"]) for r in responses if r.status_int == 201]
    for i, first in enumerate(winners):
        for second in winners[i + 1:]:
            assert not first & second, "a seat is in two live holds"
    assert_invariants(engine)


def test_same_fan_ten_parallel_holds_respects_the_per_fan_limit(staff, customers, engine):
    match, *_ = published_match(staff, seats_per_row=20, rows=2, prices=(1000,), max_tickets_per_fan=4)
    (fan,) = customers(1)
    first = fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201).json
    fan.post(f"/api/v1/holds/{first['id']}/checkout", status=201)  # the fan owns 2 tickets

    responses = race([
        (lambda q=q: fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": q}, expect_errors=True))
        for q in (1, 2, 3, 2, 1, 3, 2, 2, 3, 1)
    ])
    by_quantity = collections.defaultdict(set)
    for quantity, response in zip((1, 2, 3, 2, 1, 3, 2, 2, 3, 1), responses):
        by_quantity[quantity].add(response.status_int)
    assert by_quantity[3] == {409}  # 2 owned + 3 > 4, however the requests interleave
    assert by_quantity[1] <= {201} and by_quantity[2] <= {201}
    with engine.connect() as conn:
        live = conn.execute(text(
            "SELECT count(*) FROM match_seats WHERE match_id = :m AND status = 'held' AND held_until > now()"
        ), {"m": match["id"]}).scalar_one()
        owned = conn.execute(text("SELECT count(*) FROM tickets WHERE status = 'valid'")).scalar_one()
        active = conn.execute(text("SELECT count(*) FROM holds WHERE status = 'active'")).scalar_one()
    assert active == 1 and owned == 2 and owned + live <= 4
    assert_invariants(engine)


def test_same_idempotency_key_ten_times_in_parallel_creates_one_of_each(staff, customers, engine):
    match, *_ = published_match(staff, seats_per_row=10, rows=2, prices=(1500,))
    (fan,) = customers(1, balance=0)
    headers = {"Idempotency-Key": "top-up-once"}
    top_ups = race([lambda: fan.post("/api/v1/wallet/top-ups", {"amount": 10000}, headers=headers, expect_errors=True)] * 10)
    assert {r.status_int for r in top_ups} <= {201, 409} and any(r.status_int == 201 for r in top_ups)
    holds = race([
        lambda: fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2},
                         headers={"Idempotency-Key": "hold-once"}, expect_errors=True)
    ] * 10)
    assert {r.status_int for r in holds} <= {201, 409}
    hold_ids = {r.json["id"] for r in holds if r.status_int == 201}
    assert len(hold_ids) == 1
    (hold_id,) = hold_ids
    checkouts = race([
        lambda: fan.post(f"/api/v1/holds/{hold_id}/checkout", headers={"Idempotency-Key": "pay-once"}, expect_errors=True)
    ] * 10)
    assert {r.status_int for r in checkouts} <= {201, 409}
    assert len({r.json["id"] for r in checkouts if r.status_int == 201}) == 1
    with engine.connect() as conn:
        counts = conn.execute(text(
            "SELECT (SELECT count(*) FROM wallet_ledger WHERE kind = 'top_up'), (SELECT count(*) FROM holds), "
            "(SELECT count(*) FROM orders), (SELECT balance FROM wallets)"
        )).one()
    assert tuple(counts) == (1, 1, 1, 10000 - 3000)
    # Once the first attempts finished, a retry replays rather than 409.
    replay = fan.post(f"/api/v1/holds/{hold_id}/checkout", headers={"Idempotency-Key": "pay-once"}, status=201)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert_invariants(engine)


def test_checkout_racing_hold_expiry(staff, customers, engine, anonymous):
    """The hold lapses while its owner checks out and a rival claims the same seats.
    Whatever the interleaving, exactly one of them ends up with the seats."""
    match, *_ = published_match(staff, seats_per_row=10, rows=1, prices=(1000,))
    outcomes = collections.Counter()
    for round_number in range(6):
        owner, rival = customers(2)
        hold = owner.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201).json
        seat_ids = [seat["id"] for seat in hold["seats"]]
        with engine.begin() as conn:  # make the hold lapse a few milliseconds from now
            conn.execute(text("UPDATE holds SET expires_at = clock_timestamp() + interval '15 milliseconds' WHERE id = :h"), {"h": hold["id"]})
            conn.execute(text("UPDATE match_seats SET held_until = clock_timestamp() + interval '15 milliseconds' WHERE hold_id = :h"), {"h": hold["id"]})
        checkout, rival_hold = race([
            lambda: owner.post(f"/api/v1/holds/{hold['id']}/checkout", expect_errors=True),
            lambda: _claim_until_decided(rival, match["id"], seat_ids),
        ])
        outcomes[(checkout.status_int, rival_hold.status_int)] += 1
        assert (checkout.status_int, rival_hold.status_int) in {(201, 409), (410, 201)}
        if rival_hold.status_int == 201:
            anonymous.app.delete(f"/api/v1/holds/{rival_hold.json['id']}",
                                 headers={"Authorization": f"Bearer {rival.token}"}, status=204)
        else:
            owner.post(f"/api/v1/orders/{checkout.json['id']}/cancel", status=200)
    assert_invariants(engine)


def _claim_until_decided(fan, match_id, seat_ids):
    """Keep trying for ~0.3 s: the rival's claim succeeds the instant the hold lapses."""
    import time

    deadline = time.monotonic() + 0.3
    while True:
        response = fan.post(f"/api/v1/matches/{match_id}/holds", {"seat_ids": seat_ids}, expect_errors=True)
        if response.status_int != 409 or time.monotonic() > deadline:
            return response
        time.sleep(0.005)


def test_checkout_racing_release_and_match_cancellation(staff, customers, engine):
    match, *_ = published_match(staff, seats_per_row=10, rows=4, prices=(1200,))
    fans = customers(30)
    held = [fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=201).json for fan in fans]
    # Half the fans race their own checkout against their own release.
    pairs = []
    for fan, hold in list(zip(fans, held))[:15]:
        pairs.append(lambda fan=fan, hold=hold: fan.post(f"/api/v1/holds/{hold['id']}/checkout", expect_errors=True))
        pairs.append(lambda fan=fan, hold=hold: fan.delete(f"/api/v1/holds/{hold['id']}", expect_errors=True))
    # The other half race their checkout against staff cancelling the whole match.
    rest = [lambda fan=fan, hold=hold: fan.post(f"/api/v1/holds/{hold['id']}/checkout", expect_errors=True)
            for fan, hold in list(zip(fans, held))[15:]]
    rest.append(lambda: staff.post(f"/api/v1/matches/{match['id']}/cancel", expect_errors=True))
    results = race(pairs + rest)
    for checkout, release in zip(results[0:30:2], results[1:30:2]):
        # Never both: a paid order whose hold was also released. (409/410 pairs happen when
        # the match cancellation got to the hold first.)
        assert not (checkout.status_int == 201 and release.status_int == 204)
        assert checkout.status_int in {201, 409, 410} and release.status_int in {204, 410}
    assert results[-1].status_int == 200
    assert {r.status_int for r in results} <= {200, 201, 204, 409, 410}
    with engine.connect() as conn:
        valid = conn.execute(text("SELECT count(*) FROM tickets WHERE status = 'valid'")).scalar_one()
        paid = conn.execute(text("SELECT count(*) FROM orders WHERE status = 'paid'")).scalar_one()
    assert valid == 0 and paid == 0  # the cancellation refunded everything sold before or after it
    assert_invariants(engine)


def test_rivals_racing_for_lapsed_holds_seats_get_each_seat_once(staff, customers, engine):
    """The last seats of a match sit in lapsed holds; a crowd asks for best available at once.
    Holds free the lapsed seats while others scan (decision 0026): every seat ends in exactly
    one new live hold, and the lapsed holds can no longer be paid for. (That the release
    commits on its own is shown in tests/functional/test_lapsed_seats.py: a hold refused
    after it leaves the seats free, and the map's ETag moves.)"""
    match, *_ = published_match(staff, seats_per_row=8, rows=1, prices=(1000,))
    owners = customers(4)
    lapsed = [owner.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201).json
              for owner in owners]
    with engine.begin() as conn:
        conn.execute(text("UPDATE holds SET expires_at = now() - interval '1 second' WHERE match_id = :m"),
                     {"m": match["id"]})
        conn.execute(text("UPDATE match_seats SET held_until = now() - interval '1 second' WHERE match_id = :m"),
                     {"m": match["id"]})
    rivals = customers(16)
    results = race([lambda fan=fan: _best_available_until_decided(fan, match["id"]) for fan in rivals])
    assert sorted(r.status_int for r in results) == [201] * 4 + [409] * 12
    held = sorted(seat["id"] for r in results if r.status_int == 201 for seat in r.json["seats"])
    with engine.connect() as conn:
        seats = conn.execute(text("SELECT seat_id FROM match_seats WHERE match_id = :m ORDER BY seat_id"),
                             {"m": match["id"]}).scalars().all()
        live = conn.execute(text(
            "SELECT count(*) FROM match_seats WHERE match_id = :m AND status = 'held' AND held_until > now()"
        ), {"m": match["id"]}).scalar_one()
    assert held == seats and live == 8
    for owner, hold in zip(owners, lapsed):
        assert owner.post(f"/api/v1/holds/{hold['id']}/checkout", expect_errors=True).status_int == 410
    assert_invariants(engine)


def _best_available_until_decided(fan, match_id):
    """Best available, retried on a 409 for ~0.3 s, as a client would: seats another fan is
    making available at that instant are skipped, not waited for, so a 409 can come before
    they are free (rare: the release holds its locks for one short statement)."""
    import time

    deadline = time.monotonic() + 0.3
    while True:
        response = fan.post(f"/api/v1/matches/{match_id}/holds", {"quantity": 2}, expect_errors=True)
        if response.status_int != 409 or time.monotonic() > deadline:
            return response
        time.sleep(0.005)
