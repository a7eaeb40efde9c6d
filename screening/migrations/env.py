"""Alembic environment for the screening tables. Run through :func:`screening.store.migrate`."""

from alembic import context

from screening.schema import metadata

config = context.config
context.configure(connection=config.attributes["connection"], target_metadata=metadata,
                  version_table="screening_alembic_version")
with context.begin_transaction():
    context.run_migrations()
