"""The worker's feature state, durable in Flowlet's own database (the broker keeps nothing).

A :class:`StateStore` holds one state per entity (``account:a-1``, ``merchant:m-7``…) with a
version that grows with every write. A micro-batch works on it as one database transaction:

1. :meth:`StateStore.begin` locks the batch's keys (PostgreSQL: first the missing keys' rows
   are created, then every row is locked ``FOR UPDATE``, each step in key order, so two
   workers never wait on each other in a cycle; SQLite: the database, ``BEGIN IMMEDIATE``) and
   re-reads the ones another worker wrote since this one cached them (versions differ);
2. the stage functions read and mutate the states through :meth:`StateStore.lookup`;
3. :meth:`StateStore.commit` writes every state looked up with its version + 1 and commits;
   :meth:`StateStore.rollback` forgets the batch's changes.

Two workers sharing entities (a merchant both see) therefore never lose each other's updates,
and a worker's cache stays valid for as long as nobody else writes its keys. The embedded
default keeps the state in its own SQLite file (``state_database_url``), so the lock held
through a batch never blocks the ledger's writes.

**Stored as a base and a log.** A state is a *base* document (``stream_state.value``) plus the
*changes* of the batches written since (``stream_state_log``, one row per key and version,
:mod:`features.state_delta`: the batch's new series entries and applied marks, and the small
values whole). Writing the whole document in every batch cost what the entity had accumulated
— a busy merchant carries up to 37 days of series and a mark per applied transaction; the
commit, two thirds of it encoding, was ~15 % of a worker's GIL time —; a change costs what the
batch did: one row inserted, the base row untouched (a key's version is its last change's,
or its base's when the log is empty). A key's log is folded into its base (*compaction*: the
whole state written, its log rows deleted, in the batch's transaction) once the log holds
:data:`LOG_LIMIT` changes or as many bytes as the base (:data:`LOG_RATIO`): reading a state
then costs at most about twice its base, and each compaction is paid for by the changes it
folds, so a batch's write stays proportional to the batch.

Why a log of changes, and not the other two ways to the same end: time-bucketed cold chunks
would change the features' in-memory layout (a series is one list, bisected; the applied
marks one dict, looked up) and still rewrite the current bucket, which holds the hot part;
cached encodings patched in place would depend on marshal's byte layout. What a batch changes
is known by construction — series tails and new marks between two tidies — so no diff and no
second layout is needed. A tidy (``tidy(state, processed_at)``) run with a write is recorded
in that write's change, so a reader replays it at the same point and rebuilds exactly the
state the writer holds (``tests/streams/test_state.py`` compares them, key order included).

>>> from sqlalchemy import create_engine
>>> store = StateStore(create_engine("sqlite://"))
>>> store.begin(["account:a-1"]); store.lookup("account:a-1")["count"] = 1; store.commit()
>>> store.forget_cached(); store.begin(["account:a-1"]); store.lookup("account:a-1")
{'count': 1}
>>> store.rollback()
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    delete,
    func,
    select,
)
from sqlalchemy.exc import OperationalError

from core.db import create_tables, dialect_insert
from features.state_delta import Marks, apply, changes, mark
from streams.state_tables import (
    META_STORE,
    decode_change,
    decode_state,
    encode_change,
    encode_state,
    read_meta,
    state_metadata,
    stream_state,
    stream_state_log,
    write_meta,
)

__all__ = ["META_STORE", "StateStore", "read_meta", "stream_state", "stream_state_log"]

log = logging.getLogger(__name__)

#: Decoded states kept in memory; beyond it the cache starts over (the database is the source
#: of truth, so forgetting costs a read, never a value).
CACHE_LIMIT = 100_000
#: A state is tidied (``tidy``: expired entries dropped) when written, at most once per this
#: many seconds of the worker's clock: tidying drops only what no window reaches any more, so
#: skipping it in between changes no feature value, only lets a hot entity's state carry up to
#: this long of extra entries. Tidying every state on every write was a quarter of the state's
#: commit (a busy merchant is written in every batch).
TIDY_SECONDS = 30.0
#: A key's log is folded into its base once it holds this many changes…
LOG_LIMIT = 64
#: …or this many times the base's bytes (a reader decodes base + log: ~2× the base at most).
LOG_RATIO = 1.0
_CHUNK = 500
_EMPTY = encode_state({})
#: A lock wait PostgreSQL broke as a deadlock (40P01) or a serialization failure (40001) is
#: retried this many times before the batch fails: only a key looked up outside ``begin``'s
#: set can still lock out of order.
LOCK_RETRIES = 5
_TRANSIENT = {"40P01", "40001"}


def _transient(error: OperationalError) -> bool:
    return getattr(error.orig, "sqlstate", None) in _TRANSIENT


Tidy = Callable[[dict[str, Any], float], None]


@dataclass(slots=True)
class _Cached:
    """A key's state as this worker holds it, and what its next write is measured against."""

    version: int
    state: dict[str, Any]
    marks: Marks
    base_bytes: int = 0  # the stored base's size
    log_bytes: int = 0  # the stored log's size and length since that base
    log_rows: int = 0


class StateStore:
    """The feature states of one store name, cached, written once per key per batch."""

    def __init__(self, engine: Engine, name: str = "features", tidy: Tidy | None = None,
                 tidy_seconds: float = TIDY_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        """``tidy(state, processed_at)`` drops what no feature reads any more (given the
        processing time, epoch seconds of ``wall``); ``clock`` paces it (``tidy_seconds``)."""
        self.engine, self.name = engine, name
        self._tidy = tidy
        self._tidy_seconds, self._clock, self._wall = tidy_seconds, clock, wall
        self._tidied: dict[str, float] = {}  # key -> when its state was last tidied
        create_tables(state_metadata, engine)
        insert = dialect_insert(engine.dialect.name)(stream_state)
        self._upsert = insert.on_conflict_do_update(
            index_elements=["store", "key"],
            set_={"version": insert.excluded.version, "value": insert.excluded.value})
        self._create = insert.on_conflict_do_nothing(index_elements=["store", "key"])
        # Rows are locked in the order of Python's sorted keys (chunks follow it too): bytes,
        # whatever the database's default collation.
        self._key_order = (stream_state.c.key.collate("C")
                           if engine.dialect.name == "postgresql" else stream_state.c.key)
        self._log = stream_state_log.insert()
        self._fold = delete(stream_state_log).where(
            stream_state_log.c.store == bindparam("b_store"),
            stream_state_log.c.key == bindparam("b_key"))
        self._cache: dict[str, _Cached] = {}
        self._dirty: set[str] = set()
        self._conn: Connection | None = None
        #: Since this store was made: keys written as a change, keys written whole, bytes.
        self.writes = {"changes": 0, "whole": 0, "change_bytes": 0, "whole_bytes": 0}
        #: Deadlocks PostgreSQL broke in ``begin`` and this store retried (see LOCK_RETRIES).
        self.lock_retries = 0

    # -- one batch ------------------------------------------------------------------------------
    def begin(self, keys: Iterable[str]) -> None:
        """Open the batch's transaction: lock ``keys`` and bring their cached states up to
        date. Keys not named here may still be looked up (read unlocked on first use)."""
        if self._conn is not None:
            raise RuntimeError("a batch is already open on this state store")
        ordered = sorted(set(keys))
        for attempt in range(LOCK_RETRIES + 1):
            try:
                self._begin(ordered)
                return
            except OperationalError as error:
                if not _transient(error) or attempt == LOCK_RETRIES:
                    raise
                self.lock_retries += 1
                log.warning("state lock broken by the database (%s); retrying the batch's "
                            "locks (%d of %d)", error.orig.sqlstate, attempt + 1,
                            LOCK_RETRIES)
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311

    def _begin(self, keys: list[str]) -> None:
        conn = self.engine.connect()
        try:
            if self.engine.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # one writer at a time, from here on
            else:
                conn.begin()
            self._conn = conn
            self._refresh(keys, lock=True)
        except BaseException:
            for key in keys:  # a half-read batch: its cached versions are not trusted
                self._cache.pop(key, None)
            self._conn = None
            conn.close()  # rolls back
            raise

    def lookup(self, key: str) -> dict[str, Any]:
        """The key's state, to be mutated in place and written by :meth:`commit`."""
        hit = self._cache.get(key)
        if hit is None:
            self._refresh([key], lock=True)
            hit = self._cache[key]
        self._dirty.add(key)
        return hit.state

    def commit(self, meta: dict[str, str] | None = None) -> None:
        """Write every state looked up in this batch — its change, or the whole state when
        the key is new or its log is due for compaction — (and the ``meta`` bookkeeping
        values), and commit the batch's transaction."""
        conn = self._open()
        try:
            self._write(conn)
            for key, value in (meta or {}).items():
                write_meta(conn, self.engine.dialect.name, key, value)
            conn.commit()
        except BaseException:
            self.rollback()
            raise
        self._close()
        if len(self._cache) > CACHE_LIMIT:
            self._cache.clear()
            self._tidied.clear()

    def rollback(self) -> None:
        """Abandon the batch: its changes to cached states are forgotten with them."""
        for key in self._dirty:
            self._cache.pop(key, None)
        if self._conn is not None:
            self._conn.rollback()
        self._close()

    def read(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored states of ``keys`` as the next batch would see them (read in a batch
        that is rolled back; the cache starts over first, so not between a worker's batches)."""
        wanted = sorted(set(keys))
        self.forget_cached()
        self.begin(wanted)
        try:
            return {k: self.lookup(k) for k in wanted}
        finally:
            self.rollback()

    def forget_cached(self) -> None:
        """Drop every cached state (only between batches)."""
        if self._conn is None:
            self._cache.clear()

    # -- internals -------------------------------------------------------------------------------
    def _open(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("no batch is open on this state store: call begin() first")
        return self._conn

    def _close(self) -> None:
        self._dirty.clear()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _write(self, conn: Connection) -> None:
        """Each dirty key's change or whole state; the cache moves to the written versions."""
        whole, logged, folded = [], [], []
        now, processed_at = self._clock(), self._wall()
        for key in self._dirty:
            entry = self._cache[key]
            version = entry.version + 1
            tidy = (self._tidy is not None
                    and now - self._tidied.get(key, -1e18) >= self._tidy_seconds)
            if tidy:
                self._tidied[key] = now
            # A change while the log is smaller than the base (the change that takes it past
            # is the last); it is encoded before the tidy, which is replayed after it.
            logged_ok = (entry.version > 0 and entry.log_rows < LOG_LIMIT
                         and entry.log_bytes < LOG_RATIO * entry.base_bytes)
            if logged_ok:
                raw = encode_change(changes(entry.state, entry.marks),
                                    processed_at if tidy else None)
            if tidy and self._tidy is not None:
                self._tidy(entry.state, processed_at)
            if logged_ok:
                logged.append({"store": self.name, "key": key, "version": version, "value": raw})
                entry.log_bytes += len(raw)
                entry.log_rows += 1
                self.writes["changes"] += 1
                self.writes["change_bytes"] += len(raw)
            else:
                raw = encode_state(entry.state)
                whole.append({"store": self.name, "key": key, "version": version, "value": raw})
                if entry.log_rows:
                    folded.append({"b_store": self.name, "b_key": key})
                entry.base_bytes, entry.log_bytes, entry.log_rows = len(raw), 0, 0
                self.writes["whole"] += 1
                self.writes["whole_bytes"] += len(raw)
            entry.version, entry.marks = version, mark(entry.state)
        for statement, rows in ((self._fold, folded), (self._upsert, whole), (self._log, logged)):
            for start in range(0, len(rows), _CHUNK):
                conn.execute(statement, rows[start:start + _CHUNK])

    def _refresh(self, keys: list[str], lock: bool) -> None:
        conn = self._open()
        lock_rows = lock and self.engine.dialect.name != "sqlite"
        if lock_rows:
            self._create_missing(conn, keys)
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start:start + _CHUNK]
            # A key's version is its last change's, or its base's when its log is empty.
            last_change = select(func.max(stream_state_log.c.version)).where(
                stream_state_log.c.store == stream_state.c.store,
                stream_state_log.c.key == stream_state.c.key).scalar_subquery()
            if lock_rows:
                # Locked first, versions read by the next statement: a statement that waited
                # for a row lock still reads the log through the snapshot it started with, so
                # it would miss the change the lock holder just committed (a change leaves the
                # base row as it was) and two workers would write the same version.
                conn.execute(select(stream_state.c.key).where(
                    stream_state.c.store == self.name, stream_state.c.key.in_(chunk)
                ).order_by(self._key_order).with_for_update())
            versions = dict(conn.execute(select(
                stream_state.c.key, func.coalesce(last_change, stream_state.c.version)).where(
                stream_state.c.store == self.name, stream_state.c.key.in_(chunk))).all())
            stale = [k for k, v in versions.items()
                     if k not in self._cache or self._cache[k].version != v]
            if stale:
                self._read(conn, stale)
            for k in chunk:
                if k not in versions:
                    self._cache[k] = _Cached(0, {}, {})  # never stored (or dropped): version 0

    def _read(self, conn: Connection, keys: list[str]) -> None:
        """Base + log of ``keys``, replayed in version order, into the cache."""
        read: dict[str, _Cached] = {}
        for k, v, raw in conn.execute(select(
                stream_state.c.key, stream_state.c.version, stream_state.c.value).where(
                stream_state.c.store == self.name, stream_state.c.key.in_(keys))):
            read[k] = _Cached(v, decode_state(raw), {}, base_bytes=len(raw))
        for k, v, raw in conn.execute(select(
                stream_state_log.c.key, stream_state_log.c.version, stream_state_log.c.value).where(
                stream_state_log.c.store == self.name, stream_state_log.c.key.in_(keys)
                ).order_by(stream_state_log.c.key, stream_state_log.c.version)):
            entry = read[k]
            entry.version = v
            change, tidied_at = decode_change(raw)
            apply(entry.state, change)
            if tidied_at is not None:
                if self._tidy is None:
                    raise ValueError(f"state {k!r} was written with a tidy: open the store "
                                     "with that tidy to read it")
                self._tidy(entry.state, tidied_at)
            entry.log_bytes += len(raw)
            entry.log_rows += 1
        for k, entry in read.items():
            entry.marks = mark(entry.state)
            self._cache[k] = entry

    def _create_missing(self, conn: Connection, keys: list[str]) -> None:
        """A row lock needs a row: create the missing keys' rows empty, in key order, before
        any row is locked. An insert waits only for another batch creating the same key, and
        every lock comes after, in key order too, so no two workers wait in a cycle (locking
        the present rows before creating the missing ones, chunk by chunk, took locks out of
        key order: two workers on PostgreSQL deadlocked on shared merchants)."""
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start:start + _CHUNK]
            present = set(conn.execute(select(stream_state.c.key).where(
                stream_state.c.store == self.name, stream_state.c.key.in_(chunk))).scalars())
            absent = [k for k in chunk if k not in present]
            if absent:
                conn.execute(self._create, [{"store": self.name, "key": k, "version": 0,
                                             "value": _EMPTY} for k in absent])
