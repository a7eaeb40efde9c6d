"""Ledger tables. Journals are keyed by the client's ``transaction_id`` (the idempotency key);
entries are immutable signed legs: debit positive, credit negative, integer minor units."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    TypeDecorator,
)


class UTCDateTime(TypeDecorator):
    """Stores UTC, always returns timezone-aware UTC (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger; use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

journals = Table(
    "ledger_journals",
    metadata,
    Column("transaction_id", String(64), primary_key=True),
    Column("event_type", String(32), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("posted_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # posted | rejected
    Column("reason", String(200)),
)

entries = Table(
    "ledger_entries",
    metadata,
    Column("entry_id", Integer().with_variant(BigInteger, "postgresql"), primary_key=True,
           autoincrement=True),
    Column("transaction_id", String(64), ForeignKey("ledger_journals.transaction_id"),
           nullable=False),
    Column("leg", Integer, nullable=False),
    Column("ledger_account", String(140), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
)
Index("ix_ledger_entries_tx", entries.c.transaction_id, entries.c.leg, unique=True)
Index("ix_ledger_entries_account", entries.c.ledger_account, entries.c.currency)
