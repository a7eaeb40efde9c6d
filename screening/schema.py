"""The screening tables, in the database the ledger uses (``settings.database_url``).

Created and upgraded by Alembic (``screening/migrations``, version table
``screening_alembic_version``).

* ``screening_lists`` — one row per load (``flowlet screening load``): the list version the
  stream screens with is the highest one;
* ``screening_entries`` — the entries of the current list (a load replaces them all, in the
  same transaction as its ``screening_lists`` row).

False positives are not stored here: a ``not_fraud`` decision on a screening alert *is* the
whitelist entry (``screening.whitelist`` reads it from the workbench's tables), so the
decision, its author and its audit record are one thing.
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, Text

from core.db import UTCDateTime

metadata = MetaData()
ID = 128

screening_lists = Table(
    "screening_lists", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("loaded_at", UTCDateTime, nullable=False),
    Column("source", Text, nullable=False),  # the file loaded
    Column("sha256", String(64), nullable=False),
    Column("entries", Integer, nullable=False),
)

screening_entries = Table(
    "screening_entries", metadata,
    Column("entry_id", String(ID), primary_key=True),
    Column("kind", String(16), nullable=False),  # sanctions | pep
    Column("schema", String(64), nullable=False),
    Column("name", Text, nullable=False),
    Column("aliases", Text, nullable=False),  # JSON list
    Column("birth_dates", Text, nullable=False),  # JSON list
    Column("countries", Text, nullable=False),  # JSON list
    Column("dataset", Text, nullable=False),
)
