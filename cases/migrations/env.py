"""Alembic environment for the workbench. Run through :func:`cases.migrate.migrate`."""

from alembic import context

from cases.schema import metadata

config = context.config
context.configure(connection=config.attributes["connection"], target_metadata=metadata,
                  version_table="cases_alembic_version")
with context.begin_transaction():
    context.run_migrations()
