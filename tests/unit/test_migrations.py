"""The migrations build exactly the schema the models describe (no drift either way)."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ticketing.models import metadata


def test_models_and_migrations_agree(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"models and alembic/versions differ; write a migration: {diff}"
