"""The ledger facade: post micro-batches idempotently, read balances and the trial balance."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, func, insert, make_url, select
from sqlalchemy.dialects import postgresql, sqlite

from flowlet.contract import TransactionEvent
from ledger.recipes import legs
from ledger.schema import entries, journals, metadata

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class PostingResult:
    transaction_id: str
    status: str  # posted | duplicate | rejected
    reason: str | None = None


def make_engine(url: str) -> Engine:
    """An engine tuned for the ledger: WAL and a busy timeout on SQLite so workers can share it."""
    if url.startswith("sqlite"):
        db_path = make_url(url).database
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def dialect_insert(engine_or_dialect_name: str):  # type: ignore[no-untyped-def]
    """``INSERT`` with ``ON CONFLICT`` support for the engine's dialect."""
    if engine_or_dialect_name == "postgresql":
        return postgresql.insert
    if engine_or_dialect_name == "sqlite":
        return sqlite.insert
    raise ValueError(f"unsupported database dialect {engine_or_dialect_name!r}")


class Ledger:
    """Double-entry ledger on SQLAlchemy; SQLite by default, PostgreSQL in deployment."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = dialect_insert(engine.dialect.name)
        self._claim_journals = (
            self._insert(journals)
            .on_conflict_do_nothing(index_elements=["transaction_id"])
            .returning(journals.c.transaction_id)
        )

    @classmethod
    def from_url(cls, url: str) -> Ledger:
        ledger = cls(make_engine(url))
        ledger.create_schema()
        return ledger

    def create_schema(self) -> None:
        metadata.create_all(self.engine)

    def post_batch(self, events: Sequence[TransactionEvent]) -> list[PostingResult]:
        """Post a micro-batch in one database transaction.

        Idempotent by ``transaction_id``: the database's primary key decides (``ON CONFLICT DO
        NOTHING``), so a redelivered or concurrently posted transaction is reported as a
        duplicate and never gets a second set of entries.
        """
        if not events:
            return []
        now = datetime.now(UTC)
        by_id: dict[str, TransactionEvent] = {}
        for ev in events:
            by_id.setdefault(ev.transaction_id, ev)  # duplicates within one batch
        new_ids: set[str] = set()
        with self.engine.begin() as conn:
            # executemany of one cached statement (insertmanyvalues), not a freshly compiled
            # multi-row VALUES per batch: compiling dominated the batch time.
            rows = [_journal_row(ev, now) for ev in by_id.values()]
            new_ids.update(conn.execute(self._claim_journals, rows).scalars())
            entry_rows = [
                {"transaction_id": tid, "leg": i, "ledger_account": leg.ledger_account,
                 "currency": leg.currency, "amount_minor": leg.amount_minor}
                for tid in new_ids
                for i, leg in enumerate(legs(by_id[tid]))
            ]
            if entry_rows:
                conn.execute(insert(entries), entry_rows)
        return [
            PostingResult(ev.transaction_id, "posted" if ev.transaction_id in new_ids
                          and first else "duplicate")
            for ev, first in _first_occurrences(events)
        ]

    def trial_balance(self) -> dict[str, int]:
        """Sum of all legs per currency; zero for every currency in a healthy ledger."""
        stmt = select(entries.c.currency, func.sum(entries.c.amount_minor)).group_by(
            entries.c.currency
        )
        with self.engine.connect() as conn:
            return {ccy: int(total) for ccy, total in conn.execute(stmt)}

    def balance(self, ledger_account: str, currency: str) -> int:
        """Signed sum of an account's legs (debit positive)."""
        stmt = select(func.coalesce(func.sum(entries.c.amount_minor), 0)).where(
            entries.c.ledger_account == ledger_account, entries.c.currency == currency
        )
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def journal_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(journals)).scalar_one())

    def posted_ids(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(journals.c.transaction_id)).scalars())


def _first_occurrences(events: Iterable[TransactionEvent]):  # type: ignore[no-untyped-def]
    seen: set[str] = set()
    for ev in events:
        yield ev, ev.transaction_id not in seen
        seen.add(ev.transaction_id)


def _journal_row(ev: TransactionEvent, now: datetime) -> dict:
    return {
        "transaction_id": ev.transaction_id,
        "event_type": ev.event_type.value,
        "account_id": ev.account_id,
        "currency": ev.currency,
        "amount_minor": ev.amount_minor,
        "occurred_at": ev.occurred_at,
        "posted_at": now,
        "status": "posted",
        "reason": None,
    }
