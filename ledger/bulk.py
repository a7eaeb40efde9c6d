"""The SQL of one posting batch, on the DB-API cursor of the batch's SQLAlchemy connection.

A batch posts on one shard: it locks that shard's chain head only, so batches on other shards
run concurrently on PostgreSQL. Balance rows are locked only by the last statement, the
balance upsert (in one sorted order: no deadlock between batches), which returns the new
balances so that :mod:`ledger.store` can prove no other shard lowered a balance the batch
decided on (else it runs the batch again). SQLite has one writer at a time anyway (the
batch's first statement takes the database's write lock).

One statement per batch for each lookup and each write, never one per row: PostgreSQL gets
``IN (SELECT unnest(array))`` lookups and binary ``COPY … FROM STDIN`` (psycopg 3) for
journals and entries; SQLite ``IN (…)`` lookups and ``executemany``. Everything runs inside
the caller's transaction (SQLAlchemy's ``engine.begin()``), so one micro-batch stays one
database transaction.

Rows come in the column orders below. Timestamps are timezone-aware UTC datetimes on
PostgreSQL and, on SQLite, the text SQLAlchemy's ``DateTime`` would store
(:func:`ledger.decide.sqlite_ts_us`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from functools import lru_cache
from itertools import compress
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection

from ledger.chain import HASHED_FIELDS, genesis

JOURNAL_COLUMNS = (*HASHED_FIELDS, "prev_hash", "hash", "shard")
ENTRY_COLUMNS = ("journal_shard", "journal_seq", "leg", "ledger_account", "currency",
                 "amount_minor")
#: PostgreSQL types of those columns, for binary COPY (varchar's binary form is text's).
_JOURNAL_PG_TYPES = ("int8", "text", "text", "text", "text", "text", "int8", "timestamptz",
                     "timestamptz", "text", "text", "text", "text", "text", "timestamptz",
                     "text", "text", "text", "int4")
_ENTRY_PG_TYPES = ("int4", "int8", "int4", "text", "text", "int8")
_IN_CHUNK = 500  # ids per IN (...) list on SQLite
_ROWS_PER_INSERT = 50  # rows per multi-row INSERT on SQLite (x 18 journal columns: 900 ?s)
#: The journal columns a posting may leave empty, and where they start (insert_journals).
_FIRST_OPTIONAL = 10
assert JOURNAL_COLUMNS[_FIRST_OPTIONAL:_FIRST_OPTIONAL + 6] == (
    "reason", "refers_to", "closes_hold", "reversal_of", "expires_at", "fx_rate")
#: Journal columns SQLite gets once per statement (insert_journals groups rows by them).
_SHARED = (2, 8, 9, 18)
assert [JOURNAL_COLUMNS[i] for i in _SHARED] == ["kind", "posted_at", "status", "shard"]

#: A hold as stored: (authorization id, account, currency, amount, closer's event type|None).
HoldRow = tuple[str, str, str, int, str | None]


class BatchStatements:
    """One batch's reads (chain head, known ids, holds, balances) and bulk writes (journals,
    entries, balance deltas, chain head) for one dialect, on the connection's DB-API cursor."""

    sqlite = False

    def __init__(self, conn: Connection) -> None:
        self.cur: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        #: Every shard's head as of :meth:`lock_head`, when no other writer can move any of
        #: them before this transaction ends (SQLite: the write lock); None when they can
        #: (PostgreSQL: other shards post concurrently).
        self.heads: dict[int, tuple[int, str]] | None = None

    @staticmethod
    def open(conn: Connection) -> BatchStatements:
        if conn.dialect.name == "postgresql":
            return _Postgres(conn)
        if conn.dialect.name == "sqlite":
            return _Sqlite(conn)
        raise ValueError(f"unsupported database dialect {conn.dialect.name!r}")

    def lock_head(self, shard: int, alone: bool = False) -> tuple[int, str]:
        """The shard's chain head (seq, hash), locked for the rest of the transaction; a
        shard's first batch creates its head at its genesis. ``alone``: first wait until no
        batch on any shard is in flight, and keep new ones out until this one ends."""
        raise NotImplementedError

    def set_head(self, shard: int, seq: int, digest: str) -> None:
        self.cur.execute(self._sql(
            "UPDATE ledger_chain_head SET seq = ?, hash = ? WHERE shard = ?"),
            (seq, digest, shard))

    def _new_head(self, shard: int) -> None:
        self.cur.execute(self._sql(
            "INSERT INTO ledger_chain_head (shard, seq, hash) VALUES (?, 0, ?) "
            "ON CONFLICT (shard) DO NOTHING"), (shard, genesis(shard)))

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
        """Cached balances of ``keys`` (absent rows are absent: zero), as last committed (on
        PostgreSQL another shard may change them before this batch writes)."""
        found: dict[tuple[str, str], int] = {}
        for acct, ccy, bal in self._any(
                "SELECT ledger_account, currency, balance FROM ledger_balances "
                "WHERE ledger_account {IN}", sorted({a for a, _ in keys})):
            if (acct, ccy) in keys:
                found[(acct, ccy)] = int(bal)
        return found

    def insert_journals(self, rows: Sequence[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def insert_entries(self, values: list[Any]) -> None:
        """Entry rows flattened: ``ENTRY_COLUMNS`` values per row, one row after another."""
        raise NotImplementedError

    def add_to_balances(self, deltas: Sequence[tuple[str, str, int]]
                        ) -> dict[tuple[str, str], int]:
        """Add each (account, currency, delta) to the cached balance, creating missing rows
        (each key at most once); PostgreSQL returns the new balances (SQLite: nothing, as no
        one else can have written in between)."""
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql

    def _any(self, sql: str, values: Sequence[str]) -> Iterable[tuple[Any, ...]]:
        raise NotImplementedError


class _Postgres(BatchStatements):
    def lock_head(self, shard: int, alone: bool = False) -> tuple[int, str]:
        # Every batch holds this schema's ledger advisory lock, shared; a batch that must
        # run alone (its balances were lowered under it: ledger.store) takes it exclusive.
        # Taken before the head, in every batch: one lock order.
        self.cur.execute(f"SELECT pg_advisory_xact_lock{'' if alone else '_shared'}"
                         "(1280, hashtext(current_schema()))")
        sql = "SELECT seq, hash FROM ledger_chain_head WHERE shard = %s FOR UPDATE"
        self.cur.execute(sql, (shard,))
        row = self.cur.fetchone()
        if row is None:
            self._new_head(shard)
            self.cur.execute(sql, (shard,))
            row = self.cur.fetchone()
        return int(row[0]), str(row[1])

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def _any(self, sql: str, values: Sequence[str]) -> Iterable[tuple[Any, ...]]:
        if not values:
            return []
        # One parameter, split by the server (see _texts), as a sub-select the planner
        # joins (index lookups, or a hash of the values). Not ``= ANY(string_to_array(…))``:
        # in a generic plan's sequential scan that split the whole parameter again for
        # every row it filtered — reading 300 accounts' balances from 2,000 rows took 35-60
        # ms instead of 0.8 ms.
        self.cur.execute(sql.replace("{IN}", "IN (SELECT unnest(string_to_array(%s, chr(31))))"),
                         (_texts(values),))
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

    def insert_entries(self, values: list[Any]) -> None:
        width = len(ENTRY_COLUMNS)
        self._copy("ledger_entries", ENTRY_COLUMNS, _ENTRY_PG_TYPES,
                   [values[i:i + width] for i in range(0, len(values), width)])

    def add_to_balances(self, deltas: Sequence[tuple[str, str, int]]
                        ) -> dict[tuple[str, str], int]:
        if not deltas:
            return {}
        # Sorted: concurrent upserts (batches on other shards) take row locks in one order,
        # so they wait for each other but never deadlock. Reading balances with FOR UPDATE
        # at the batch's start instead deadlocked within seconds: each shard locked its own
        # payers, then credited the other's (P2P) in the upsert.
        accounts, currencies, amounts = zip(*sorted(deltas), strict=True)
        self.cur.execute(
            "INSERT INTO ledger_balances (ledger_account, currency, balance) "
            "SELECT * FROM unnest(string_to_array(%s, chr(31)), string_to_array(%s, chr(31)), "
            "string_to_array(%s, ',')::bigint[]) "
            "ON CONFLICT (ledger_account, currency) "
            "DO UPDATE SET balance = ledger_balances.balance + EXCLUDED.balance "
            "RETURNING ledger_account, currency, balance",
            (_texts(accounts), _texts(currencies), ",".join(map(str, amounts))))
        return {(a, c): int(b) for a, c, b in self.cur.fetchall()}


def _texts(values: Sequence[str]) -> str:
    """``values`` as one text parameter for ``string_to_array(…, chr(31))``: adapting a
    Python list as an array costs a Python-level dump per element (~0.5 µs each, thousands
    per batch); one join costs almost nothing. The unit separator is no character ids and
    account codes may contain (the contract's identifiers are ``[A-Za-z0-9_.:-]``), but a
    value containing it would split in two (and an empty one vanish), so those are refused
    rather than mis-read.

    >>> _texts(["a", "b:c"]) == "a\x1fb:c"
    True
    >>> _texts(["a\x1fb"])
    Traceback (most recent call last):
    ValueError: ledger identifiers must be non-empty and free of 0x1f
    """
    joined = _SEP.join(values)
    if joined.count(_SEP) != len(values) - 1 or not all(values):
        raise ValueError("ledger identifiers must be non-empty and free of 0x1f")
    return joined


_SEP = "\x1f"


@lru_cache(maxsize=256)
def _insert_sql(table: str, shared: tuple[str, ...], columns: tuple[str, ...], rows: int,
                suffix: str) -> str:
    """``INSERT INTO table (shared…, columns…) VALUES (…), …`` for ``rows`` rows, every
    parameter numbered: ``?1``… are the shared values, then each row's own.

    >>> _insert_sql("t", ("k",), ("a", "b"), 2, "")
    'INSERT INTO t (k, a, b) VALUES (?1, ?2, ?3), (?1, ?4, ?5)'
    """
    first, width = len(shared) + 1, len(columns)
    lead = [f"?{n}" for n in range(1, first)]
    values = ", ".join(
        "(" + ", ".join(lead + [f"?{first + r * width + j}" for j in range(width)]) + ")"
        for r in range(rows))
    return f"INSERT INTO {table} ({', '.join(shared + columns)}) VALUES {values}{suffix}"


class _Sqlite(BatchStatements):
    sqlite = True

    def lock_head(self, shard: int, alone: bool = False) -> tuple[int, str]:
        # Always alone (one writer at a time). A write first: SQLite takes its write lock now,
        # not at the first insert.
        self.cur.execute("UPDATE ledger_chain_head SET seq = seq WHERE shard = ?", (shard,))
        if self.cur.rowcount == 0:
            self._new_head(shard)
        # Under the write lock no shard's head can move before this batch commits.
        self.cur.execute("SELECT shard, seq, hash FROM ledger_chain_head")
        self.heads = {int(s): (int(q), str(h)) for s, q, h in self.cur.fetchall()}
        return self.heads[shard]

    def _any(self, sql: str, values: Sequence[str]) -> Iterable[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(values), _IN_CHUNK):
            chunk = values[start:start + _IN_CHUNK]
            self.cur.execute(sql.replace("{IN}", f"IN ({', '.join('?' * len(chunk))})"),
                             chunk)
            rows += self.cur.fetchall()
        return rows

    def _insert(self, table: str, columns: Sequence[str], values: list[Any],
                suffix: str = "", shared: Sequence[tuple[str, Any]] = ()) -> None:
        """``values`` (rows flattened, ``len(columns)`` per row) ``_ROWS_PER_INSERT`` rows per
        ``INSERT … VALUES (…), (…), …`` and the remainder by ``executemany``: SQLite runs,
        resets and halts a statement once per execution, which per row cost about as much as
        the row's B-tree insert. Flat, each statement's parameters are one list slice.

        ``shared`` (column, value) pairs are the same in every row: bound once per statement
        as ``?1``, ``?2``, … and repeated in each row by number (the driver copies every text
        parameter it binds; a shared one is copied once instead of once per row)."""
        if not values:
            return
        width = len(columns)
        names = tuple(c for c, _ in shared)
        constants = [v for _, v in shared]
        step = _ROWS_PER_INSERT * width
        full = len(values) - len(values) % step
        if full:
            sql = _insert_sql(table, names, tuple(columns), _ROWS_PER_INSERT, suffix)
            for start in range(0, full, step):
                self.cur.execute(sql, constants + values[start:start + step])
        if full < len(values):
            self.cur.executemany(_insert_sql(table, names, tuple(columns), 1, suffix), [
                constants + values[i:i + width] for i in range(full, len(values), width)])

    def insert_journals(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Grouped by which optional columns are empty, and those columns left out: SQLite's
        driver adapts every ``None`` parameter by failed attribute lookups (~1 µs each; a
        plain posting has six), while a column left out is NULL for free. Within a group,
        ``kind``, ``posted_at`` (one per batch) and ``status`` are bound once per statement."""
        shapes: dict[tuple[Any, ...], list[Any]] = {}
        for row in rows:
            shape = (row[10] is not None, row[11] is not None, row[12] is not None,
                     row[13] is not None, row[14] is not None, row[15] is not None,
                     row[2], row[8], row[9])
            group = shapes.get(shape)
            if group is None:
                group = shapes[shape] = []
            group.append(row)
        for shape, group in shapes.items():
            keep = [i not in _SHARED for i in range(len(JOURNAL_COLUMNS))]
            keep[_FIRST_OPTIONAL:_FIRST_OPTIONAL + 6] = shape[:6]
            pick = itemgetter(*compress(range(len(JOURNAL_COLUMNS)), keep))
            values: list[Any] = []
            for row in group:
                values += pick(row)
            self._insert("ledger_journals", list(compress(JOURNAL_COLUMNS, keep)), values,
                         shared=[(JOURNAL_COLUMNS[i], group[0][i]) for i in _SHARED])

    def insert_entries(self, values: list[Any]) -> None:
        self._insert("ledger_entries", ENTRY_COLUMNS, values)

    def add_to_balances(self, deltas: Sequence[tuple[str, str, int]]
                        ) -> dict[tuple[str, str], int]:
        # Unsorted: the batch holds SQLite's one write lock, there are no row locks to order.
        values: list[Any] = []
        for delta in deltas:
            values += delta
        self._insert("ledger_balances", ("ledger_account", "currency", "balance"), values,
                     " ON CONFLICT (ledger_account, currency) "
                     "DO UPDATE SET balance = balance + excluded.balance")
        return {}
