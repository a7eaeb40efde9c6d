"""The posting hot path's SQL, on the DB-API cursor of the batch's SQLAlchemy connection.

One statement per batch for each lookup and each write, never one per row: PostgreSQL gets
``= ANY(array)`` lookups and binary ``COPY … FROM STDIN`` (psycopg 3) for journals and entries;
SQLite ``IN (…)`` lookups and ``executemany``. Everything runs inside the caller's transaction
(SQLAlchemy's ``engine.begin()``), so one micro-batch stays one database transaction.

Rows come in the column orders below. Timestamps are timezone-aware UTC datetimes on
PostgreSQL and, on SQLite, the text SQLAlchemy's ``DateTime`` would store (:func:`sqlite_ts`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from ledger.chain import HASHED_FIELDS

JOURNAL_COLUMNS = (*HASHED_FIELDS, "prev_hash", "hash")
ENTRY_COLUMNS = ("journal_seq", "leg", "ledger_account", "currency", "amount_minor")
#: PostgreSQL types of those columns, for binary COPY (varchar's binary form is text's).
_JOURNAL_PG_TYPES = ("int8", "text", "text", "text", "text", "text", "int8", "timestamptz",
                     "timestamptz", "text", "text", "text", "text", "text", "timestamptz",
                     "text", "text", "text")
_ENTRY_PG_TYPES = ("int8", "int4", "text", "text", "int8")
_IN_CHUNK = 500  # ids per IN (...) list on SQLite

#: A hold as stored: (authorization id, account, currency, amount, closer's event type|None).
HoldRow = tuple[str, str, str, int, str | None]


def sqlite_ts(value: datetime) -> str:
    """The text SQLAlchemy's SQLite ``DateTime`` stores for an aware datetime, in UTC.

    >>> from datetime import timedelta, timezone
    >>> sqlite_ts(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=1))))
    '2026-01-02 02:04:05.000006'
    """
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger; use timezone-aware UTC")
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # drops the "+00:00"


class HotPath:
    """The batch's statements for one dialect, on the connection's DB-API cursor."""

    sqlite = False

    def __init__(self, conn: Connection) -> None:
        self.cur: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    @staticmethod
    def open(conn: Connection) -> HotPath:
        if conn.dialect.name == "postgresql":
            return _Postgres(conn)
        if conn.dialect.name == "sqlite":
            return _Sqlite(conn)
        raise ValueError(f"unsupported database dialect {conn.dialect.name!r}")

    def ts(self, value: datetime | None) -> Any:
        """A timestamp as this driver binds it."""
        return value

    def lock_head(self) -> tuple[int, str]:
        """The chain head, locked for the rest of the transaction."""
        raise NotImplementedError

    def set_head(self, seq: int, digest: str) -> None:
        self.cur.execute(self._sql("UPDATE ledger_chain_head SET seq = ?, hash = ? WHERE id = 1"),
                         (seq, digest))

    def existing(self, ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        """transaction id -> (status, reason) for those of ``ids`` already journaled."""
        return {tid: (status, reason) for tid, status, reason in self._any(
            "SELECT transaction_id, status, reason FROM ledger_journals "
            "WHERE transaction_id {IN}", ids)}

    def holds(self, auth_ids: Collection[str]) -> list[HoldRow]:
        """Posted authorizations among ``auth_ids`` and what closed each, if anything."""
        return [(tid, acct, ccy, int(amount), closer) for tid, acct, ccy, amount, closer in
                self._any(
                    "SELECT a.transaction_id, a.account_id, a.currency, a.amount_minor, "
                    "c.event_type FROM ledger_journals a LEFT JOIN ledger_journals c "
                    "ON c.closes_hold = a.transaction_id AND c.status = 'posted' "
                    "WHERE a.status = 'posted' AND a.event_type = 'card_authorization' "
                    "AND a.transaction_id {IN}", sorted(auth_ids))]

    def balances(self, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Cached balances of ``keys`` (absent rows are absent: zero)."""
        found: dict[tuple[str, str], int] = {}
        for acct, ccy, bal in self._any(
                "SELECT ledger_account, currency, balance FROM ledger_balances "
                "WHERE ledger_account {IN}", sorted({a for a, _ in keys})):
            if (acct, ccy) in keys:
                found[(acct, ccy)] = int(bal)
        return found

    def insert_journals(self, rows: Sequence[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def insert_entries(self, rows: Sequence[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def add_to_balances(self, deltas: Sequence[tuple[str, str, int]]) -> None:
        """Add each (account, currency, delta) to the cached balance, creating missing rows."""
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql

    def _any(self, sql: str, values: Sequence[str]) -> Iterable[tuple[Any, ...]]:
        raise NotImplementedError


class _Postgres(HotPath):
    def lock_head(self) -> tuple[int, str]:
        self.cur.execute("SELECT seq, hash FROM ledger_chain_head WHERE id = 1 FOR UPDATE")
        seq, digest = self.cur.fetchone()
        return int(seq), str(digest)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def _any(self, sql: str, values: Sequence[str]) -> Iterable[tuple[Any, ...]]:
        if not values:
            return []
        # One array parameter, bound in binary (no per-element quoting), keeps an index plan.
        self.cur.execute(sql.replace("{IN}", "= ANY(%b::text[])"), (list(values),))
        return self.cur.fetchall()

    def _copy(self, table: str, columns: Sequence[str], types: Sequence[str],
              rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        with self.cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN "
                           "(FORMAT BINARY)") as copy:
            copy.set_types(list(types))
            for row in rows:
                copy.write_row(row)

    def insert_journals(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self._copy("ledger_journals", JOURNAL_COLUMNS, _JOURNAL_PG_TYPES, rows)

    def insert_entries(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self._copy("ledger_entries", ENTRY_COLUMNS, _ENTRY_PG_TYPES, rows)

    def add_to_balances(self, deltas: Sequence[tuple[str, str, int]]) -> None:
        if not deltas:
            return
        accounts, currencies, amounts = (list(col) for col in zip(*deltas, strict=True))
        self.cur.execute(
            "INSERT INTO ledger_balances (ledger_account, currency, balance) "
            "SELECT * FROM unnest(%b::text[], %b::text[], %b::bigint[]) "
            "ON CONFLICT (ledger_account, currency) "
            "DO UPDATE SET balance = ledger_balances.balance + EXCLUDED.balance",
            (accounts, currencies, amounts))


class _Sqlite(HotPath):
    sqlite = True

    def ts(self, value: datetime | None) -> Any:
        return None if value is None else sqlite_ts(value)

    def lock_head(self) -> tuple[int, str]:
        # A write first: SQLite takes its write lock now, not at the first insert.
        self.cur.execute("UPDATE ledger_chain_head SET seq = seq WHERE id = 1")
        self.cur.execute("SELECT seq, hash FROM ledger_chain_head WHERE id = 1")
        seq, digest = self.cur.fetchone()
        return int(seq), str(digest)

    def _any(self, sql: str, values: Sequence[str]) -> Iterable[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(values), _IN_CHUNK):
            chunk = values[start:start + _IN_CHUNK]
            self.cur.execute(sql.replace("{IN}", f"IN ({', '.join('?' * len(chunk))})"),
                             chunk)
            rows += self.cur.fetchall()
        return rows

    def _insert(self, table: str, columns: Sequence[str],
                rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            self.cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) "
                                 f"VALUES ({', '.join('?' * len(columns))})", rows)

    def insert_journals(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self._insert("ledger_journals", JOURNAL_COLUMNS, rows)

    def insert_entries(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self._insert("ledger_entries", ENTRY_COLUMNS, rows)

    def add_to_balances(self, deltas: Sequence[tuple[str, str, int]]) -> None:
        if deltas:
            self.cur.executemany(
                "INSERT INTO ledger_balances (ledger_account, currency, balance) "
                "VALUES (?, ?, ?) ON CONFLICT (ledger_account, currency) "
                "DO UPDATE SET balance = balance + excluded.balance", deltas)
