"""The seat map's fast path (ticketing/seat_map_fast_path.py, decision 0014): repeat polls are
answered from memory with no SQL at all, for at most ``seatmap.fresh_seconds``, and only for
maps the resource's ACL shows to everyone."""
import pytest
from sqlalchemy import event

from ticketing.seat_map_fast_path import MAX_ENTRIES, FreshSeatMaps, etag_matches

from .catalogue_helpers import create_match, create_stadium, published_match


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def fast_path(wsgi_app):
    """Turn the fast path on (5 s of freshness, a clock the test moves) for one test."""
    fresh = wsgi_app.registry["fresh_seat_maps"]
    clock = FakeClock()
    fresh.forget()
    fresh.fresh_seconds, fresh.clock = 5.0, clock
    yield clock
    fresh.fresh_seconds, fresh.clock = 0.0, FreshSeatMaps(0).clock
    fresh.forget()


@pytest.fixture
def statements(wsgi_app):
    """Every SQL statement the app sends, so a test can tell which path answered."""
    sent = []
    engine = wsgi_app.registry["db_engine"]

    def count(conn, cursor, statement, *args):
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    yield sent
    event.remove(engine, "before_cursor_execute", count)


def test_repeat_polls_are_answered_without_sql_until_the_answer_is_older_than_fresh_seconds(
    staff, customer, anonymous, fast_path, statements
):
    match, *_ = published_match(staff)
    url = f"/api/v1/matches/{match['id']}/seats"
    first = anonymous.get(url, status=200)
    etag = first.headers["ETag"]
    assert statements, "the first poll goes the full way"

    statements.clear()
    again = customer.get(url, headers={"If-None-Match": etag}, status=304)
    assert again.headers["ETag"] == etag and again.headers["Cache-Control"] == "no-cache"
    full = anonymous.get(url, status=200, headers={"X-Request-ID": "poll-42"})
    assert full.body == first.body and full.headers["ETag"] == etag
    # The same headers as the full path's answer (request id and security headers included).
    assert sorted(full.headers.keys()) == sorted(first.headers.keys())
    assert {k: v for k, v in full.headers.items() if k != "X-Request-ID"} == \
        {k: v for k, v in first.headers.items() if k != "X-Request-ID"}
    assert full.headers["X-Request-ID"] == "poll-42"
    assert statements == []

    # A seat changes; for up to fresh_seconds polls may still get the previous answer.
    customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201)
    statements.clear()
    anonymous.get(url, headers={"If-None-Match": etag}, status=304)
    assert statements == []

    fast_path.now += 5.01
    changed = anonymous.get(url, headers={"If-None-Match": etag}, status=200)
    assert changed.headers["ETag"] != etag
    assert sum(1 for seat in changed.json["seats"] if seat[8] == "held") == 2
    assert statements, "a stale answer is never repeated: the database was asked again"


def test_drafts_filtered_maps_and_other_methods_always_take_the_full_path(staff, anonymous, wsgi_app, fast_path, statements):
    stadium, sections = create_stadium(staff, name="Draft Arena")
    draft = create_match(staff, stadium["id"])
    draft_url = f"/api/v1/matches/{draft['id']}/seats"
    staff_view = staff.get(draft_url, status=200)
    # Staff may see the draft's map, but it is not public: nothing is remembered, and an
    # anonymous caller is refused exactly as without the fast path.
    assert draft["id"] not in wsgi_app.registry["fresh_seat_maps"].entries
    refused = anonymous.get(draft_url, headers={"If-None-Match": staff_view.headers["ETag"]}, expect_errors=True)
    assert refused.status_code in (401, 404) and refused.content_type == "application/problem+json"

    match, _, published_sections, _ = published_match(staff, name="Open Arena")
    url = f"/api/v1/matches/{match['id']}/seats"
    filtered_url = f"{url}?section_id={published_sections[0]['id']}"
    filtered = anonymous.get(filtered_url, status=200)
    statements.clear()
    anonymous.get(filtered_url, headers={"If-None-Match": filtered.headers["ETag"]}, status=304)
    assert statements, "filtered maps are never answered from memory"

    etag = anonymous.get(url, status=200).headers["ETag"]
    statements.clear()
    anonymous.app.head(url, headers={"If-None-Match": etag}, expect_errors=True)
    assert statements, "only GET takes the fast path"


def test_the_fast_path_is_off_when_fresh_seconds_is_zero(staff, anonymous, wsgi_app, statements):
    assert wsgi_app.registry["fresh_seat_maps"].fresh_seconds == 0
    match, *_ = published_match(staff)
    url = f"/api/v1/matches/{match['id']}/seats"
    etag = anonymous.get(url).headers["ETag"]
    statements.clear()
    anonymous.get(url, headers={"If-None-Match": etag}, status=304)
    assert statements
    assert match["id"] not in wsgi_app.registry["fresh_seat_maps"].entries


def test_fresh_seat_maps_keep_the_body_across_304s_and_stay_bounded():
    clock = FakeClock()
    fresh = FreshSeatMaps(1.0, clock)
    fresh.remember(1, "e1", b"body-1")
    fresh.remember(1, "e1")  # a 304 revalidated e1: the body stays
    assert fresh.fresh(1) == ("e1", b"body-1")
    fresh.remember(1, "e2")  # a 304 for another ETag: no body for it yet
    assert fresh.fresh(1) == ("e2", None)
    clock.now += 1.5
    assert fresh.fresh(1) is None
    for match_id in range(MAX_ENTRIES + 50):
        fresh.remember(match_id, f"e{match_id}", b"x")
    assert len(fresh.entries) == MAX_ENTRIES and fresh.fresh(MAX_ENTRIES + 49) is not None
    assert fresh.fresh(0) is None  # the oldest were dropped
    off = FreshSeatMaps(0)
    off.remember(1, "e1", b"body")
    assert off.entries == {} and not off.enabled


def test_fresh_seat_maps_count_from_the_read_and_never_step_back():
    """A slow request that read its ETag earlier and finishes later neither replaces the
    newer map nor stretches the window: it is fresh for fresh_seconds from its read."""
    clock = FakeClock()
    fresh = FreshSeatMaps(1.0, clock)
    slow_read = clock.now
    clock.now += 0.3
    fresh.remember(1, "e-new", b"new", read_at=clock.now)  # a quick request read later
    clock.now += 0.5
    fresh.remember(1, "e-old", b"old", read_at=slow_read)  # the slow one finishes last
    assert fresh.fresh(1) == ("e-new", b"new")
    fresh.forget(1)
    fresh.remember(1, "e-old", b"old", read_at=slow_read)
    clock.now = slow_read + 1.01  # past a second from its read, though remembered 0.8 s ago
    assert fresh.fresh(1) is None


def test_if_none_match_uses_weak_comparison_over_a_list():
    etag = 'W/"sm-1-abc"'
    assert etag_matches('W/"sm-1-abc"', etag)
    assert etag_matches('"sm-1-abc"', etag)  # weak comparison ignores W/
    assert etag_matches('W/"old", W/"sm-1-abc"', etag)
    assert etag_matches("*", etag)
    assert not etag_matches('W/"sm-1-abd"', etag)
    assert not etag_matches("", etag) and not etag_matches(None, etag)
