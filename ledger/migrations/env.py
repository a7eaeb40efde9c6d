"""Alembic environment for the ledger. Run through :func:`ledger.migrate.migrate`."""

from alembic import context
from sqlalchemy import text

from ledger.schema import metadata

config = context.config
connection = config.attributes["connection"]
if connection.dialect.name == "postgresql":
    # Two workers starting at once must not both create the schema.
    connection.execute(text("SELECT pg_advisory_xact_lock(823746001)"))
context.configure(connection=connection, target_metadata=metadata,
                  version_table="ledger_alembic_version")
with context.begin_transaction():
    context.run_migrations()
