"""Alembic environment for the rules. Run through :func:`rules.migrate.migrate`."""

from alembic import context

from rules.schema import metadata

config = context.config
context.configure(connection=config.attributes["connection"], target_metadata=metadata,
                  version_table="rules_alembic_version")
with context.begin_transaction():
    context.run_migrations()
