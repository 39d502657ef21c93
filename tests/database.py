"""Finds a real PostgreSQL for the test suite and creates a fresh database on it.

Order: ``TEST_DATABASE_URL``; else the server on 127.0.0.1:5432 if it answers; else a
throwaway embedded cluster under ``var/test-pgdata``. Each run gets a uniquely named database
(dropped afterwards), built with ``alembic upgrade head`` so the migrations are tested too.
"""
import os
import uuid
from pathlib import Path

import psycopg2
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ticketing.models import sqlalchemy_url

ROOT = Path(__file__).resolve().parent.parent


def _local_server_answers():
    try:
        psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=2).close()
        return True
    except psycopg2.OperationalError:
        return False


def server_url():
    """A URL of a maintenance database on the server the tests will use."""
    if os.environ.get("TEST_DATABASE_URL"):
        return sqlalchemy_url(os.environ["TEST_DATABASE_URL"])
    if _local_server_answers():
        return "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
    from ticketing import embedded_postgres

    server = embedded_postgres.start(ROOT / "var" / "test-pgdata")
    return server.get_uri("postgres", driver="psycopg2")


def create_test_database(base_url):
    url = make_url(base_url)
    name = f"ticketing_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False), name


def drop_test_database(base_url, name):
    admin = create_engine(make_url(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
            {"name": name},
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def migrate(database_url, revision="head", direction=command.upgrade):
    config = Config(str(ROOT / "development.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.attributes["skip_logging"] = True
    engine = create_engine(database_url)
    # Not inside a transaction of ours: alembic runs each migration in its own, and a
    # migration that builds an index CONCURRENTLY steps outside it (autocommit_block).
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        direction(config, revision)
        connection.commit()
    engine.dispose()


def downgrade(database_url, revision):
    migrate(database_url, revision, direction=command.downgrade)


#: Indexes migration 0009 leaves out on a server without pg_trgm (the embedded cluster).
TRIGRAM_INDEXES = ("ix_users_email_trgm", "ix_users_full_name_trgm")


def schema_drift(conn):
    """What alembic's autogenerate finds between the database and the models, less the
    trigram indexes where this PostgreSQL ships no pg_trgm (decision 0038)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ticketing.models import metadata

    diff = compare_metadata(MigrationContext.configure(conn), metadata)
    if not conn.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar():
        diff = [d for d in diff if not (d[0] == "add_index" and d[1].name in TRIGRAM_INDEXES)]
    return diff
