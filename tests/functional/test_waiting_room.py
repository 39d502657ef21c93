"""The waiting room (ticketing/services/waiting_room.py, decision 0037).

Over the API: staff turn it on, a hold without an admission is refused with the way in, a
fan joins (once), polls the public status, exchanges the pass when called, and buys with the
admission; forged, expired and other fans' admissions are refused; turning the room off lets
everyone through; a restarted app keeps every place and honours every pass.

With an injected clock, in the service: the fixed pace calls the promised number of fans per
minute, pausing stops the clock and a new pace counts from its change; the adaptive pace
keeps at most K fans shopping; fans who joined after the opening are called strictly first
come, first served; nothing is called while no seat is available; and fans who joined before
the opening are put in a uniformly random order (a chi-square test with a fixed seed, beside
a control that shows the test tells order from chance).
"""
import random
from datetime import datetime, timedelta, timezone

import jwt
import pytest
import webtest
from sqlalchemy import text
from sqlalchemy.orm import Session

import ticketing
from ticketing.models import Match
from ticketing.problems import Forbidden
from ticketing.services import waiting_room

from .catalogue_helpers import published_match
from .test_auth import assert_problem

T0 = datetime(2031, 5, 1, 9, 0, tzinfo=timezone.utc)


def enable(staff, match_id, **settings):
    body = {"enabled": True, "mode": "fixed", "admit_per_minute": 6000, **settings}
    return staff.put(f"/api/v1/matches/{match_id}/waiting-room", body, status=200).json


def test_a_fan_joins_waits_is_admitted_and_buys(staff, customer, user_factory, anonymous):
    match, *_ = published_match(staff, seats_per_row=10, rows=2)
    url = f"/api/v1/matches/{match['id']}"
    customer.post("/api/v1/wallet/top-ups", {"amount": 50_000}, status=201)
    assert anonymous.get(f"{url}/queue").json["state"] == "off"
    room = enable(staff, match["id"])
    assert room["enabled"] and room["status"]["state"] == "open"

    refused = assert_problem(customer.post(f"{url}/holds", {"quantity": 2}, status=403), 403)
    assert refused["type"] == "urn:ticketing:problem:waiting-room" and refused["join"] == f"{url}/queue"
    assert "POST /api/v1/matches" in refused["detail"]

    place = customer.post(f"{url}/queue", status=201).json
    assert place["order_key"] == 2.0 or place["order_key"] >= 1  # after the opening: 1 + n
    again = customer.post(f"{url}/queue", status=200).json
    assert again["order_key"] == place["order_key"]  # one place per fan
    status = anonymous.get(f"{url}/queue")
    assert status.headers["Cache-Control"] == "public, max-age=0, s-maxage=1"
    assert status.json["poll_after_seconds"] == waiting_room.POLL_WHILE_OPEN_SECONDS

    admitted = customer.post(f"{url}/queue/admission", {"pass": place["pass"]}, status=201).json
    hold = customer.post(f"{url}/holds", {"quantity": 2}, status=201,
                         headers={"Queue-Admission": admitted["admission"]}).json
    customer.post(f"/api/v1/holds/{hold['id']}/checkout", status=201)
    figures = staff.get(f"{url}/waiting-room").json["figures"]
    assert figures["bought"] == 1 and figures["called"] == 1 and figures["shopping"] == 0

    # Another fan cannot use it, nor a made-up one, nor this fan's pass.
    other = user_factory()
    for token in (admitted["admission"], "not-a-token",
                  jwt.encode({"aud": "ticketing-admission", "sub": str(other.user["id"]), "m": match["id"],
                              "exp": 4102444800}, "someone-elses-secret-" + "x" * 40, algorithm="HS256")):
        assert_problem(other.post(f"{url}/holds", {"quantity": 1}, status=403, headers={"Queue-Admission": token}),
                       403)
    assert_problem(other.post(f"{url}/queue/admission", {"pass": place["pass"]}, status=422), 422, "pass")

    # Turned off mid-sale: everyone goes straight in.
    staff.put(f"{url}/waiting-room", {"enabled": False}, status=200)
    other.post("/api/v1/wallet/top-ups", {"amount": 50_000}, status=201)
    other.post(f"{url}/holds", {"quantity": 1}, status=201)


def test_an_admission_expires_and_is_bound_to_its_match(settings):
    secret = settings["auth.jwt_secret"]
    token = jwt.encode({"aud": "ticketing-admission", "sub": "7", "m": 3, "exp": int(T0.timestamp())}, secret,
                       algorithm="HS256")
    waiting_room.check_admission(secret, token, 3, 7, T0 - timedelta(seconds=1))
    for match_id, user_id, now in ((3, 7, T0), (3, 7, T0 + timedelta(hours=1)), (4, 7, T0 - timedelta(hours=1)),
                                   (3, 8, T0 - timedelta(hours=1))):
        with pytest.raises(Forbidden):
            waiting_room.check_admission(secret, token, match_id, user_id, now)


def test_not_your_turn_yet_says_how_many_are_ahead(staff, user_factory):
    match, *_ = published_match(staff)
    url = f"/api/v1/matches/{match['id']}"
    enable(staff, match["id"], admit_per_minute=1)
    fans = [user_factory() for _ in range(3)]
    places = [fan.post(f"{url}/queue", status=201).json for fan in fans]
    last = places[-1]
    refused = assert_problem(fans[-1].post(f"{url}/queue/admission", {"pass": last["pass"]}, status=409), 409)
    assert refused["type"] == "urn:ticketing:problem:not-your-turn" and refused["people_ahead"] >= 1


def test_a_restarted_app_keeps_every_place_and_pass(database_url, staff, customer, settings):
    match, *_ = published_match(staff)
    url = f"/api/v1/matches/{match['id']}"
    enable(staff, match["id"])
    place = customer.post(f"{url}/queue", status=201).json
    restarted = webtest.TestApp(ticketing.main({}, **settings), extra_environ={"REMOTE_ADDR": "127.0.0.1"})
    auth = {"Authorization": f"Bearer {customer.token}"}
    assert restarted.get(f"{url}/queue/me", headers=auth).json["order_key"] == place["order_key"]
    restarted.post_json(f"{url}/queue/admission", {"pass": place["pass"]}, headers=auth, status=201)


# --- the pace, with an injected clock --------------------------------------------------------

@pytest.fixture
def room(staff, engine):
    """A published 60-seat match whose sales open at T0, and a helper to run the service in
    committed transactions at a given time."""
    match, *_ = published_match(staff, seats_per_row=20, rows=3)
    with engine.begin() as conn:
        conn.execute(text("UPDATE matches SET sales_open_at = :t, starts_at = :k, sales_close_at = :k, "
                          "refund_cutoff_at = :k WHERE id = :m"),
                     {"t": T0, "k": T0 + timedelta(days=30), "m": match["id"]})
    class Room:
        id = match["id"]

        def run(self, function, *args, **kwargs):
            with Session(engine) as session, session.begin():
                return function(session, *args, **kwargs)

        def configure(self, now, **changes):
            self.run(lambda s: waiting_room.configure(s, s.get(Match, self.id), changes, now))

        def join(self, user_id, now, draw=None, arrived_at=None):
            return self.run(lambda s: waiting_room.join(s, s.get(Match, self.id), user_id, now, draw,
                                                        arrived_at=arrived_at))

        def advance(self, now):
            return self.run(lambda s: waiting_room.advance(s, self.id, now).called_now)

        def called(self):
            with engine.connect() as conn:
                return conn.execute(text("SELECT user_id FROM queue_places WHERE match_id = :m AND called_at IS NOT "
                                         "NULL ORDER BY called_at, order_key"), {"m": self.id}).scalars().all()

    return Room()


@pytest.fixture
def fan_ids(engine):
    def make(count):
        with engine.begin() as conn:
            return conn.execute(text(
                "INSERT INTO users (email, full_name, password_hash) SELECT 'q' || g || '-' || md5(random()::text) "
                "|| '@example.com', 'Fan', 'x' FROM generate_series(1, :n) g RETURNING id"), {"n": count}).scalars().all()
    return make


def test_the_fixed_pace_is_honoured_paused_and_changed(room, fan_ids):
    room.configure(T0 - timedelta(minutes=5), enabled=True, mode="fixed", admit_per_minute=60)
    fans = fan_ids(100)
    for index, fan in enumerate(fans):
        room.join(fan, T0 + timedelta(milliseconds=index))
    room.advance(T0)
    assert room.advance(T0 + timedelta(seconds=10)) == 10  # 60 a minute: one a second
    assert room.advance(T0 + timedelta(seconds=10)) == 0
    room.configure(T0 + timedelta(seconds=10), paused=True)
    assert room.advance(T0 + timedelta(seconds=30)) == 0
    room.configure(T0 + timedelta(seconds=30), paused=False)
    assert room.advance(T0 + timedelta(seconds=40)) == 10  # the pause's 20 s did not count
    room.configure(T0 + timedelta(seconds=40), admit_per_minute=120)
    assert room.advance(T0 + timedelta(seconds=50)) == 20  # the new pace counts from its change
    assert len(room.called()) == 40


def test_an_empty_line_banks_no_burst(room, fan_ids):
    room.configure(T0 - timedelta(minutes=5), enabled=True, mode="fixed", admit_per_minute=60)
    room.advance(T0)
    room.advance(T0 + timedelta(minutes=10))  # ten minutes with nobody waiting
    for index, fan in enumerate(fan_ids(50)):
        room.join(fan, T0 + timedelta(minutes=10, milliseconds=index))
    assert room.advance(T0 + timedelta(minutes=10, seconds=1)) <= 3


def test_the_adaptive_pace_keeps_at_most_k_shopping(room, fan_ids, engine):
    room.configure(T0 - timedelta(minutes=5), enabled=True, mode="adaptive", max_shopping=5, shopping_seconds=120)
    for index, fan in enumerate(fan_ids(20)):
        room.join(fan, T0 + timedelta(milliseconds=index))
    assert room.advance(T0 + timedelta(seconds=1)) == 5
    assert room.advance(T0 + timedelta(seconds=5)) == 0
    with engine.begin() as conn:  # two of them bought
        conn.execute(text("UPDATE queue_places SET done_at = :t WHERE id IN (SELECT id FROM queue_places WHERE "
                          "match_id = :m AND called_at IS NOT NULL LIMIT 2)"), {"t": T0, "m": room.id})
    assert room.advance(T0 + timedelta(seconds=6)) == 2
    # The others' shopping time runs out: their slots go to the next fans.
    assert room.advance(T0 + timedelta(seconds=200)) == 5


def test_after_the_opening_it_is_first_come_first_served(room, fan_ids):
    room.configure(T0 - timedelta(minutes=5), enabled=True, mode="fixed", admit_per_minute=600)
    fans = fan_ids(40)
    for index, fan in enumerate(fans):
        room.join(fan, T0 + timedelta(seconds=index))
    for second in range(1, 8):
        room.advance(T0 + timedelta(seconds=second))
    called = room.called()
    assert len(called) >= 30 and called == fans[:len(called)]


def test_nothing_is_called_while_no_seat_is_available(room, fan_ids, engine):
    room.configure(T0 - timedelta(minutes=5), enabled=True, mode="fixed", admit_per_minute=600)
    for index, fan in enumerate(fan_ids(10)):
        room.join(fan, T0 + timedelta(milliseconds=index))
    with engine.begin() as conn:
        conn.execute(text("UPDATE match_seats SET status = 'blocked', blocked_reason = 'test' WHERE match_id = :m"),
                     {"m": room.id})
    assert room.advance(T0 + timedelta(seconds=10)) == 0
    state = room.run(lambda s: waiting_room.status(s, room.id, T0 + timedelta(seconds=11)))
    assert state["sold_out"] and state["state"] == "sold_out" and state["now_serving"]["called"] == 0


def chi_square_of_order(join_order, called_order, groups=5):
    """Pearson's statistic of a groups × groups table: which fifth of the joins landed in which
    fifth of the calls. Uniform order: expected count everywhere."""
    size = len(join_order) // groups
    position = {fan: index for index, fan in enumerate(called_order)}
    table = [[0] * groups for _ in range(groups)]
    for index, fan in enumerate(join_order):
        table[min(index // size, groups - 1)][min(position[fan] // size, groups - 1)] += 1
    expected = len(join_order) / groups / groups
    return sum((cell - expected) ** 2 / expected for row in table for cell in row)


#: The chi-square distribution's 0.1 % critical value at (5 - 1) x (5 - 1) = 16 degrees of freedom.
CHI_SQUARE_16_AT_0_001 = 39.25


def test_fans_who_joined_before_the_opening_are_in_a_uniformly_random_order(room, fan_ids):
    room.configure(T0 - timedelta(hours=1), enabled=True, mode="fixed", admit_per_minute=100000,
                   opens_at=T0 - timedelta(hours=1))
    fans = fan_ids(500)
    draw = random.Random(20261207).random
    for index, fan in enumerate(fans):  # over the hour before the opening, in this order
        room.join(fan, T0 - timedelta(hours=1) + timedelta(seconds=7 * index), draw)
    room.advance(T0)
    assert room.advance(T0 + timedelta(seconds=1)) == 0  # until every early join is surely in
    room.advance(T0 + timedelta(seconds=waiting_room.DRAIN_QUIET_SECONDS + 1))
    called = room.called()
    assert sorted(called) == sorted(fans)
    assert chi_square_of_order(fans, called) < CHI_SQUARE_16_AT_0_001
    # The control: the same statistic tells an order that follows arrival from chance.
    assert chi_square_of_order(fans, fans) > 10 * CHI_SQUARE_16_AT_0_001
    # And a late fan after the opening comes after every one of them.
    late = fan_ids(1)[0]
    room.join(late, T0 + timedelta(seconds=4))
    room.advance(T0 + timedelta(seconds=5))
    assert room.called()[-1] == late


def test_a_join_nginx_held_past_the_opening_keeps_the_random_draw(room, fan_ids):
    """A join that reached nginx before the opening and the app after it draws at random
    among the keys not called yet: ahead of every fan who came after the opening."""
    room.configure(T0 - timedelta(hours=1), enabled=True, mode="fixed", admit_per_minute=60)
    early = fan_ids(10)
    held, after, held_later, late, stale = fan_ids(5)
    for index, fan in enumerate(early):
        room.join(fan, T0 - timedelta(seconds=30 - index))
    assert room.advance(T0 + timedelta(seconds=4)) == 4  # 4 of the 10 called
    serving = room.run(lambda s: waiting_room.get_room(s, room.id).serving_key)
    assert 0 < serving < 1
    # Reached nginx a second before the opening, passed on 5 s after it (paced joins).
    place = room.join(held, T0 + timedelta(seconds=5), arrived_at=T0 - timedelta(seconds=1))
    assert serving < place.order_key < 1 and place.joined_at == T0 - timedelta(seconds=1)
    assert room.join(after, T0 + timedelta(seconds=6), arrived_at=T0 + timedelta(seconds=2)).order_key >= 2
    assert room.advance(T0 + timedelta(seconds=30)) == 8  # everyone so far: serving is now a number
    # Held even longer: still ahead of every fan not called yet who came after the opening.
    later = room.join(held_later, T0 + timedelta(seconds=31), arrived_at=T0 - timedelta(seconds=1))
    numbered = room.join(late, T0 + timedelta(seconds=32), arrived_at=T0 + timedelta(seconds=3))
    assert 2 < later.order_key < 3 <= numbered.order_key
    room.advance(T0 + timedelta(seconds=40))
    assert room.called()[-2:] == [held_later, late]
    # No edge holds a join for ten minutes: such a stamp counts from LATE_JOINS_SECONDS ago.
    assert room.join(stale, T0 + timedelta(minutes=10), arrived_at=T0 - timedelta(seconds=1)).order_key >= 4
    state = room.run(lambda s: waiting_room.status(s, room.id, T0 + timedelta(minutes=10)))
    assert state["joined"] == {"before_opening": 12, "after_opening": 3}


def test_nobody_is_called_until_the_joins_from_before_the_opening_are_in(room, fan_ids):
    """nginx may still hold joins that arrived before the opening: calls wait for them (a join
    that arrived after the opening shows they are through), or for a quiet spell, or for
    LATE_JOINS_SECONDS at most, so that an early fan's random draw is as good as anyone's."""
    room.configure(T0 - timedelta(hours=1), enabled=True, mode="fixed", admit_per_minute=6000)
    early, held = fan_ids(5), fan_ids(1)[0]
    for index, fan in enumerate(early):
        room.join(fan, T0 - timedelta(seconds=10 - index))
    assert room.advance(T0 + timedelta(seconds=1)) == 0
    state = room.run(lambda s: waiting_room.status(s, room.id, T0 + timedelta(seconds=1)))
    assert state["state"] == "opening"
    room.join(held, T0 + timedelta(seconds=1.5), arrived_at=T0 - timedelta(seconds=1))  # taken late
    assert room.advance(T0 + timedelta(seconds=3)) == 0  # 1.5 s since the last early join
    assert room.advance(T0 + timedelta(seconds=3.6)) == 6
    assert room.run(lambda s: waiting_room.status(s, room.id, T0 + timedelta(seconds=4)))["state"] == "open"


def test_an_opening_moved_later_waits_for_its_early_joins_again(room, fan_ids, engine):
    room.configure(T0 + timedelta(minutes=1), enabled=True, mode="fixed", admit_per_minute=6000)  # after T0
    later = T0 + timedelta(minutes=10)
    with engine.begin() as conn:  # staff move the opening ten minutes later
        conn.execute(text("UPDATE matches SET sales_open_at = :t WHERE id = :m"), {"t": later, "m": room.id})
    assert room.advance(T0 + timedelta(minutes=2)) == 0
    for index, fan in enumerate(fan_ids(3)):
        room.join(fan, later - timedelta(seconds=10 - index))
    held = fan_ids(1)[0]
    assert room.advance(later + timedelta(seconds=1)) == 0  # joins from before may still come
    room.join(held, later + timedelta(seconds=1.5), arrived_at=later - timedelta(seconds=1))
    assert room.advance(later + timedelta(seconds=4)) == 4


def test_a_join_from_after_the_opening_starts_the_calls_at_once(room, fan_ids):
    room.configure(T0 - timedelta(hours=1), enabled=True, mode="fixed", admit_per_minute=6000)
    early, after = fan_ids(3), fan_ids(1)[0]
    for index, fan in enumerate(early):
        room.join(fan, T0 - timedelta(seconds=10 - index))
    room.join(after, T0 + timedelta(seconds=0.5), arrived_at=T0 + timedelta(seconds=0.4))
    assert room.advance(T0 + timedelta(seconds=0.6)) == 4


def test_a_trickle_of_late_early_joins_delays_the_calls_at_most_so_long(room, fan_ids):
    room.configure(T0 - timedelta(hours=1), enabled=True, mode="fixed", admit_per_minute=6000)
    fans = fan_ids(90)
    for index, fan in enumerate(fans):  # one every 1.5 s, each held since before the opening
        taken = T0 + timedelta(seconds=1.5 * index)
        room.join(fan, taken, arrived_at=taken - timedelta(seconds=1.5 * index + 1))
        if taken < T0 + timedelta(seconds=waiting_room.LATE_JOINS_SECONDS):
            assert room.advance(taken + timedelta(seconds=0.1)) == 0
    assert room.advance(T0 + timedelta(seconds=waiting_room.LATE_JOINS_SECONDS + 15)) > 0


def test_joining_before_the_queue_opens_or_when_it_is_off_is_refused(room, fan_ids):
    fan = fan_ids(1)[0]
    with pytest.raises(Exception, match="no waiting room"):
        room.join(fan, T0)
    room.configure(T0 - timedelta(hours=2), enabled=True, opens_at=T0 - timedelta(hours=1))
    with pytest.raises(Exception, match="opens at"):
        room.join(fan, T0 - timedelta(hours=1, seconds=1))
    room.join(fan, T0 - timedelta(minutes=59))
