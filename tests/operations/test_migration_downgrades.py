"""Every alembic migration has a working downgrade (issue 30): on a fresh database, upgrade to
head, then down one revision at a time to base, then up to head again, which must build
exactly the schema the models describe. The chain is read from alembic/versions, never listed
here, so a migration added later is covered by the same test."""
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from .. import database


def _current(engine):
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_every_migration_goes_down_and_up_again():
    script = ScriptDirectory(str(database.ROOT / "alembic"))
    chain = [revision.revision for revision in script.walk_revisions("base", "heads")]  # head first
    assert len(script.get_heads()) == 1, f"several heads: {script.get_heads()}; merge them"
    base = database.server_url()
    url, name = database.create_test_database(base)
    engine = create_engine(url)
    try:
        database.migrate(url, "head")
        for revision in chain:
            assert _current(engine) == revision
            database.downgrade(url, "-1")
            below = script.get_revision(revision).down_revision
            assert _current(engine) == below, f"downgrade of {revision} did not reach {below}"
        leftovers = set(inspect(engine).get_table_names()) - {"alembic_version"}
        assert leftovers == set(), f"tables left after downgrading to base: {leftovers}"
        with engine.connect() as conn:
            sequences = conn.execute(text(
                "SELECT relname FROM pg_class WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace"
            )).scalars().all()
        assert sequences == [], f"sequences left after downgrading to base: {sequences}"
        database.migrate(url, "head")
        assert _current(engine) == chain[0]
        with engine.connect() as conn:
            diff = database.schema_drift(conn)
        assert diff == [], f"upgrade after a full downgrade does not build the models' schema: {diff}"
    finally:
        engine.dispose()
        database.drop_test_database(base, name)
