"""``ticketing ... demo-data``: a realistic season on the real database, and a safe re-run.

The command function is called the way the CLI calls it (an env from the app's registry,
its own transaction manager), so the commit path is the production one.
"""
import argparse
import contextlib
import io
from datetime import datetime, timedelta, timezone

import pytest
from pyramid.scripting import prepare
from sqlalchemy import text

from ticketing.scripts import cli
from ticketing.scripts.demo_data import DEMO_FAN_PASSWORD, DEMO_FANS, demo_data
from ticketing.services import accounts
from ticketing.models import get_session_factory

from ..conftest import _truncate_all

TABLES = ("stadiums", "sections", "seats", "matches", "price_categories", "seat_assignments",
          "match_seats", "match_seat_versions", "users")


def run_demo_data(wsgi_app):
    """Run the command as ``ticketing <ini> demo-data`` would; return what it printed."""
    env = prepare(registry=wsgi_app.registry)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            demo_data(env, argparse.Namespace(command="demo-data"))
    finally:
        env["closer"]()
    return printed.getvalue()


@pytest.fixture(scope="module")
def first_run(wsgi_app, engine):
    """One season for the whole module: loading it is the slow part (about 5 s)."""
    _truncate_all(engine)
    yield run_demo_data(wsgi_app)
    # The data was committed for real: leave empty tables to the tests that follow.
    _truncate_all(engine)


def row_counts(engine):
    with engine.connect() as conn:
        return {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in TABLES}


def test_the_cli_offers_demo_data():
    cli.build_parser()
    assert "demo-data" in cli.COMMANDS


def test_demo_data_builds_a_realistic_published_season(first_run, engine):
    output = first_run

    assert "19/19" in output and "Demo season:" in output and "Done in" in output
    with engine.connect() as conn:
        stadium_seats = conn.execute(text(
            "SELECT st.name, sum(se.seat_count), count(*) FROM stadiums st "
            "JOIN sections se ON se.stadium_id = st.id GROUP BY st.name"
        )).all()
        assert 3 <= len(stadium_seats) <= 4
        for name, seats, sections in stadium_seats:
            assert 2_000 <= seats <= 12_000, name
            assert sections >= 4, name
        assert conn.execute(text("SELECT count(*) FROM seats")).scalar_one() == sum(s for _, s, _ in stadium_seats)

        published = conn.execute(text(
            """
            SELECT m.id, m.starts_at,
                   (SELECT count(*) FROM price_categories c WHERE c.match_id = m.id) AS categories,
                   (SELECT count(*) FROM match_seats ms WHERE ms.match_id = m.id AND ms.status = 'blocked') AS blocked,
                   (SELECT count(*) FROM match_seats ms WHERE ms.match_id = m.id) AS inventory,
                   (SELECT count(*) FROM seats s WHERE s.stadium_id = m.stadium_id) AS stadium_seats
            FROM matches m WHERE m.status = 'on_sale'
            """
        )).all()
        assert len(published) >= 12
        now = datetime.now(timezone.utc)
        for match in published:
            assert match.categories >= 3, match
            assert 0 < match.blocked < 20, match  # a few press seats, not a whole stand
            assert match.inventory == match.stadium_seats, "every section of the hall is on sale"
            assert now < match.starts_at < now + timedelta(days=70)

        prices = conn.execute(text("SELECT DISTINCT price FROM price_categories")).scalars().all()
        assert all(1_000 <= price <= 10_000 for price in prices)
        assert conn.execute(text(
            "SELECT count(*) FROM match_seats WHERE blocked_reason = 'press' AND status = 'blocked'"
        )).scalar_one() > 0


def test_demo_customers_can_log_in_with_the_printed_password(first_run, engine):
    output = first_run

    assert DEMO_FAN_PASSWORD in output
    session = get_session_factory(engine)()
    try:
        for fan in DEMO_FANS:
            assert fan.email in output
            user = accounts.authenticate(session, fan.email, DEMO_FAN_PASSWORD)
            assert user.role == "customer"
            assert user.email_verified  # so they may give tickets away and withdraw (0056)
    finally:
        session.close()


def test_a_second_run_creates_nothing(first_run, wsgi_app, engine):
    after_first = row_counts(engine)

    output = run_demo_data(wsgi_app)

    assert row_counts(engine) == after_first
    assert "nothing new" in output
    assert "12 already there" in output
