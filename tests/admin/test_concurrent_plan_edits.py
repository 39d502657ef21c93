"""Two staff editing one draft's seating plan at once: both edits survive.

The admin reads the plan, changes it and saves it whole. The match is locked before the
read, so the second editor reads the first one's saved plan instead of overwriting it with
a copy from before it."""
import threading

from sqlalchemy import text

from tests.concurrency.conftest import wait_for_a_lock_wait

from .conftest import flashes
from .helpers import add_category, assign, category_ids, create_match, create_stadium, section_ids


def _blocked(engine, match_id):
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM seat_assignments WHERE match_id = :m AND blocked_reason IS NOT NULL"),
            {"m": match_id}).scalar_one()


def _lock_waiters(engine):
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )).scalar_one()


def test_two_staff_blocking_seats_of_a_draft_at_once_keep_both_blocks(login_as, engine):
    first, second = login_as("staff"), login_as("staff")
    stadium_id = create_stadium(first)
    match_id = create_match(first, stadium_id)
    add_category(first, match_id, "Standard", "10")
    sections, categories = section_ids(first, match_id), category_ids(first, match_id)
    assign(first, match_id, sections["North"], categories["Standard"])
    pages = [client.get(f"/admin/matches/{match_id}/seats") for client in (first, second)]

    blocker = engine.connect()  # a third edit in progress holds the match
    held = blocker.begin()
    blocker.execute(text("SELECT 1 FROM matches WHERE id = :m FOR UPDATE"), {"m": match_id})
    results = {}

    def block(name, client, page, row):
        results[name] = client.submit(page, "blocks-form", button="block", section_id=str(sections["North"]),
                                      row=row, **{"from": "1", "to": "2"}, reason="press")

    workers = [threading.Thread(target=block, args=(name, client, page, row))
               for name, client, page, row in (("a", first, pages[0], "1"), ("b", second, pages[1], "2"))]
    try:
        for worker in workers:
            worker.start()
            wait_for_a_lock_wait(engine)
        stop = threading.Event()
        while _lock_waiters(engine) < 2 and not stop.wait(0.02):
            pass
    finally:
        held.rollback()
        blocker.close()
    for worker in workers:
        worker.join(timeout=30)

    assert [flashes(results[name].follow()) for name in ("a", "b")] == [["Blocked 2 seat(s)."]] * 2
    assert _blocked(engine, match_id) == 4
