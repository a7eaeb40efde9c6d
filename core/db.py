"""Database plumbing every store shares: the engine factory, UTC timestamps, and claim tables.

A *claim table* records which ``transaction_id`` an effect has already been applied for; claiming
is one ``INSERT … ON CONFLICT DO NOTHING RETURNING``, so the database — not a prior read —
decides which of two racing writers wins. The API's receipts and the lake's index are claim
tables; the ledger's journals enforce the same uniqueness on their own table.

>>> from sqlalchemy import MetaData
>>> t = claim_table("seen", MetaData(), "seen_at")
>>> [c.name for c in t.columns]
['transaction_id', 'seen_at']
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    TypeDecorator,
    create_engine,
    event,
    make_url,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

#: ``PRAGMA synchronous`` levels accepted on SQLite. FULL (default) syncs the WAL at every
#: commit: a committed batch survives a power cut. NORMAL syncs only at checkpoints: a power
#: cut (not a process crash) may lose the last commits — whose Kafka offsets may already be
#: committed. OFF could corrupt the database and is refused.
SQLITE_SYNCHRONOUS = ("EXTRA", "FULL", "NORMAL")

#: Longest client-chosen transaction id the contract accepts.
TRANSACTION_ID_LENGTH = 64


class UTCDateTime(TypeDecorator):  # type: ignore[type-arg]
    """Stores UTC, always returns timezone-aware UTC (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str, sqlite_synchronous: str = "FULL") -> Engine:
    """An engine for Flowlet's stores. SQLite: WAL (readers never block the writer), a busy
    timeout so processes can share the file, ``synchronous`` as given, temporary tables in
    memory, a 64 MiB page cache and 256 MiB of memory-mapped reads (the unique index on
    transaction ids is read at random on every batch; from the OS page cache it is cheap)."""
    if url.startswith("sqlite"):
        level = sqlite_synchronous.strip().upper()
        if level not in SQLITE_SYNCHRONOUS:
            raise ValueError(f"sqlite_synchronous={sqlite_synchronous!r}: use one of "
                             f"{', '.join(SQLITE_SYNCHRONOUS)} (OFF can corrupt the database)")
        db_path = make_url(url).database
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            for pragma in ("journal_mode=WAL", f"synchronous={level}", "foreign_keys=ON",
                           "temp_store=MEMORY", "cache_size=-65536", "mmap_size=268435456"):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


#: PostgreSQL advisory lock taken (transaction-scoped) around ``create_tables``: a constant
#: of the project's.
_DDL_LOCK = 0x466C6F776C6574  # "Flowlet"


def create_tables(metadata: MetaData, engine: Engine, attempts: int = 3) -> None:
    """``metadata.create_all``, safe when other processes create the same tables at the same
    moment (workers starting together on a new database). PostgreSQL: one at a time, under an
    advisory lock (the loser of a race fails on ``pg_type``'s unique index, an
    ``IntegrityError``). SQLite: the second CREATE fails with "already exists" and is retried.
    """
    from sqlalchemy.exc import OperationalError, ProgrammingError

    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DDL_LOCK})
            metadata.create_all(conn)
        return
    for attempt in range(attempts):
        try:
            metadata.create_all(engine)
            return
        except (OperationalError, ProgrammingError) as exc:
            if "already exists" not in str(exc) or attempt == attempts - 1:
                raise


def dialect_insert(dialect_name: str):  # type: ignore[no-untyped-def]
    """``INSERT`` with ``ON CONFLICT`` support for the engine's dialect."""
    if dialect_name == "postgresql":
        return postgresql.insert
    if dialect_name == "sqlite":
        return sqlite.insert
    raise ValueError(f"unsupported database dialect {dialect_name!r}")


def claim_table(name: str, metadata: MetaData, claimed_at: str, *columns: Column[Any]) -> Table:
    """A table keyed by ``transaction_id``, with the claim's time (column ``claimed_at``) and
    ``columns``."""
    return Table(name, metadata,
                 Column("transaction_id", String(TRANSACTION_ID_LENGTH), primary_key=True),
                 Column(claimed_at, UTCDateTime, nullable=False), *columns)


def claim_statement(dialect_name: str, table: Table,  # type: ignore[no-untyped-def]
                    key: str = "transaction_id"):
    """``INSERT … ON CONFLICT (key) DO NOTHING RETURNING key``: executed with many rows, it
    returns exactly the keys this call claimed."""
    return (dialect_insert(dialect_name)(table)
            .on_conflict_do_nothing(index_elements=[key]).returning(table.c[key]))
