"""The workbench's tables: users, alerts and their hits, cases, notes, and the audit chain.

Created and upgraded by Alembic (``cases/migrations``, version table ``cases_alembic_version``)
in the database the ledger uses (``settings.database_url``).

* ``alerts`` — one row per alert; **at most one open alert per (entity, source)**: a partial
  unique index on ``(entity_type, entity_id, source) WHERE status = 'open'`` makes the database,
  not a prior read, decide between two workers raising the same alert;
* ``alert_hits`` — the evidence: one row per (transaction, source), the key that makes a
  redelivered batch add nothing; a typology detector's hit names its ``typology`` and its
  ``evidence`` (the transactions and counterparties of the pattern, JSON);
* ``cases`` — one active case per customer (partial unique index on ``account_id`` while not
  decided); its alerts point at it;
* ``audit_log`` — append-only, each row's ``hash`` = SHA-256 of the previous row's hash and its
  own content (``cases.audit``), so an edited or deleted row breaks the chain.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from core.db import UTCDateTime

metadata = MetaData()
ID = 128

users = Table(
    "users", metadata,
    Column("username", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
)

alerts = Table(
    "alerts", metadata,
    Column("alert_id", String(ID), primary_key=True),
    Column("source", String(32), nullable=False),  # model | rule | aml
    Column("source_version", String(ID), nullable=False),  # e.g. flowlet-fraud/3
    Column("entity_type", String(32), nullable=False),  # account today
    Column("entity_id", String(ID), nullable=False),
    Column("status", String(16), nullable=False),  # open | closed
    Column("priority", Integer, nullable=False),
    Column("score_max", Float, nullable=False),
    Column("hits", Integer, nullable=False),
    Column("amount_minor_max", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),  # of amount_minor_max
    Column("reason_codes", Text, nullable=False),  # JSON list, of the highest-scoring hit
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("case_id", String(ID), nullable=False),
    Column("decision", String(32)),
    Column("closed_at", UTCDateTime),
    Column("typology", String(64)),  # AML typology alerts (source typology:<name>), else NULL
    Index("alerts_one_open", "entity_type", "entity_id", "source", unique=True,
          sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
    Index("alerts_by_case", "case_id"),
    Index("alerts_by_status_priority", "status", "priority"),
)

alert_hits = Table(
    "alert_hits", metadata,
    Column("transaction_id", String(ID), primary_key=True),
    Column("source", String(32), primary_key=True),
    Column("alert_id", String(ID)),
    Column("account_id", String(ID), nullable=False),
    Column("merchant_id", String(ID)),
    #: the transaction's device and P2P payee: its labels name them (c0003)
    Column("device_id", String(ID)),
    Column("counterparty_account_id", String(ID)),
    Column("score", Float, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("reason_codes", Text, nullable=False),
    Column("typology", String(64)),
    #: JSON {"transactions": [...], "counterparties": [...]}: what a typology detector saw.
    Column("evidence", Text),
    Index("alert_hits_by_alert", "alert_id"),
)

cases = Table(
    "cases", metadata,
    Column("case_id", String(ID), primary_key=True),
    Column("account_id", String(ID), nullable=False),
    Column("state", String(16), nullable=False),
    Column("assignee", String(64)),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("decided_at", UTCDateTime),
    Column("decision", String(32)),
    Index("cases_one_active", "account_id", unique=True,
          sqlite_where=text("state <> 'decided'"), postgresql_where=text("state <> 'decided'")),
    Index("cases_by_state", "state"),
)

notes = Table(
    "case_notes", metadata,
    Column("note_id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(ID), nullable=False, index=True),
    Column("author", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("text", Text, nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("object_type", String(16), nullable=False),
    Column("object_id", String(ID), nullable=False),
    Column("before", Text, nullable=False),  # JSON
    Column("after", Text, nullable=False),  # JSON
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
