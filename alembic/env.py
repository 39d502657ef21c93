"""Alembic environment: the schema changes only through these migrations.

The database URL is resolved exactly as the app resolves it (DATABASE_URL, then the ini's
``sqlalchemy.url``, then the embedded cluster), so ``alembic -c development.ini upgrade head``
works on a machine with no database configured.
"""
from alembic import context
from pyramid.paster import get_appsettings, setup_logging
from sqlalchemy import engine_from_config, pool

from ticketing.models import metadata, resolve_database_url
from ticketing.settings import normalize_settings

config = context.config
if config.config_file_name and not config.attributes.get("skip_logging"):
    setup_logging(config.config_file_name)

connection = config.attributes.get("connection")


def _settings():
    return normalize_settings(get_appsettings(config.config_file_name))


def run_migrations_offline():
    context.configure(url=resolve_database_url(_settings()), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


# One transaction per migration: a migration that must run outside one (an index built
# CONCURRENTLY on a live table, 0006) commits what came before it, so each migration is
# committed on its own either way, and a failure leaves the schema at the last whole one
# (0006, stopped midway, may leave one of its new indexes behind: its re-run takes care of it).
def run_migrations_online():
    if connection is not None:  # tests hand in their own connection
        context.configure(connection=connection, target_metadata=metadata, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    settings = _settings()
    engine = engine_from_config(
        {"sqlalchemy.url": resolve_database_url(settings)}, "sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
