"""Alembic environment for the customers' tables. Run through :func:`customers.migrate.migrate`."""

from alembic import context

from customers.schema import metadata

config = context.config
context.configure(connection=config.attributes["connection"], target_metadata=metadata,
                  version_table="customers_alembic_version")
with context.begin_transaction():
    context.run_migrations()
