"""Joins racing for places in a waiting room: one place per fan, distinct places for all.

Twenty requests of one fan at once get one place, the same one each; forty fans at once get
forty places, none shared, numbered in the order they were counted. The control runs the
same race against a naive "look, then insert" on a table without the unique constraint, and
gets a fan several places: the race is real, and the constraint is what stops it.
"""
import time

from sqlalchemy import text

from ..functional.catalogue_helpers import published_match
from .conftest import race


def _enable(staff, match_id):
    staff.put(f"/api/v1/matches/{match_id}/waiting-room", {"enabled": True, "admit_per_minute": 60}, status=200)


def test_one_fan_racing_itself_gets_one_place(staff, customers, engine):
    match, *_ = published_match(staff)
    _enable(staff, match["id"])
    (fan,) = customers(1)
    answers = race([lambda: fan.post(f"/api/v1/matches/{match['id']}/queue", expect_errors=True)
                    for _ in range(20)], workers=20)
    assert {answer.status_int for answer in answers} <= {200, 201}
    assert len({answer.json["order_key"] for answer in answers}) == 1
    assert sum(answer.status_int == 201 for answer in answers) == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM queue_places WHERE match_id = :m"),
                            {"m": match["id"]}).scalar_one() == 1


def test_forty_fans_racing_get_forty_distinct_places(staff, customers, engine):
    match, *_ = published_match(staff)
    _enable(staff, match["id"])
    fans = customers(40)
    answers = race([lambda fan=fan: fan.post(f"/api/v1/matches/{match['id']}/queue") for fan in fans], workers=40)
    keys = [answer.json["order_key"] for answer in answers]
    assert len(set(keys)) == 40 and all(key >= 2 for key in keys)
    with engine.connect() as conn:
        places = conn.execute(text("SELECT user_id, order_key FROM queue_places WHERE match_id = :m"),
                              {"m": match["id"]}).all()
    assert len(places) == 40 and len({user for user, _ in places}) == 40


def _naive_join(engine, user_id):
    with engine.begin() as conn:
        found = conn.execute(text("SELECT 1 FROM naive_places WHERE user_id = :u"), {"u": user_id}).first()
        if found:
            return False
        time.sleep(0.02)  # the window between "look" and "insert"
        conn.execute(text("INSERT INTO naive_places (user_id) VALUES (:u)"), {"u": user_id})
        return True


def test_control_a_naive_join_gives_a_fan_several_places(engine):
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE naive_places (user_id bigint NOT NULL)"))
    try:
        created = race([lambda: _naive_join(engine, 7) for _ in range(20)], workers=20)
        assert sum(created) > 1, "the control race did not overlap; the tests above prove nothing"
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE naive_places"))
