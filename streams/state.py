"""The worker's feature state, durable in Flowlet's own database (the broker keeps nothing).

A :class:`StateStore` holds one document per entity (``account:a-1``, ``merchant:m-7``…)
in table ``stream_state`` with a version that grows with every write. A micro-batch works on it
as one database transaction:

1. :meth:`StateStore.begin` locks the batch's keys (PostgreSQL: first the missing keys' rows
   are created, then every row is locked ``FOR UPDATE``, each step in key order, so two
   workers never wait on each other in a cycle; SQLite: the database, ``BEGIN IMMEDIATE``) and
   re-reads the ones another worker wrote since this one cached them (versions differ);
2. the stage functions read and mutate the states through :meth:`StateStore.lookup`;
3. :meth:`StateStore.commit` writes every state looked up (tidied) with its version + 1 and
   commits; :meth:`StateStore.rollback` forgets the batch's changes.

Two workers sharing entities (a merchant both see) therefore never lose each other's updates,
and a worker's cache stays valid for as long as nobody else writes its keys. The embedded
default keeps the state in its own SQLite file (``state_database_url``), so the lock held
through a batch never blocks the ledger's writes.

>>> from sqlalchemy import create_engine
>>> store = StateStore(create_engine("sqlite://"))
>>> store.begin(["account:a-1"]); store.lookup("account:a-1")["count"] = 1; store.commit()
>>> store.forget_cached(); store.begin(["account:a-1"]); store.lookup("account:a-1")
{'count': 1}
>>> store.rollback()
"""

from __future__ import annotations

import logging
import marshal
import random
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    select,
)
from sqlalchemy.exc import OperationalError

from core.db import create_tables, dialect_insert

log = logging.getLogger(__name__)

_meta = MetaData()
stream_state = Table(
    "stream_state", _meta,
    Column("store", String(64), primary_key=True),
    Column("key", String(300), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("value", LargeBinary, nullable=False),
)

#: The stored form of a state: ``marshal`` (format 4), which keeps exactly the types a state
#: holds — dicts, lists, tuples, str, int, float with NaN — and encodes ~9× faster than JSON
#: (JSON encoding was 15 % of a worker's batch thread). The table is written and read by
#: Flowlet's workers only; marshal is not for data from anyone else.
MARSHAL_VERSION = 4


def encode_state(state: dict[str, Any]) -> bytes:
    return marshal.dumps(state, MARSHAL_VERSION)


def decode_state(raw: bytes) -> dict[str, Any]:
    state: dict[str, Any] = marshal.loads(raw)  # noqa: S302 - our own table, see above
    return state


#: Decoded states kept in memory; beyond it the cache starts over (the database is the source
#: of truth, so forgetting costs a read, never a value).
CACHE_LIMIT = 100_000
#: A state is tidied (``tidy``: expired entries dropped) when written, at most once per this
#: many seconds of the worker's clock: tidying drops only what no window reaches any more, so
#: skipping it in between changes no feature value, only lets a hot entity's state carry up to
#: this long of extra entries. Tidying every state on every write was a quarter of the state's
#: commit (a busy merchant is written in every batch).
TIDY_SECONDS = 30.0
_CHUNK = 500
_EMPTY = encode_state({})
#: A lock wait PostgreSQL broke as a deadlock (40P01) or a serialization failure (40001) is
#: retried this many times before the batch fails: only a key looked up outside ``begin``'s
#: set can still lock out of order.
LOCK_RETRIES = 5
_TRANSIENT = {"40P01", "40001"}


def _transient(error: OperationalError) -> bool:
    return getattr(error.orig, "sqlstate", None) in _TRANSIENT


class StateStore:
    """The feature states of one store name, cached, written once per key per batch."""

    def __init__(self, engine: Engine, name: str = "features",
                 tidy: Callable[[dict[str, Any]], None] | None = None,
                 tidy_seconds: float = TIDY_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine, self.name = engine, name
        self._tidy = tidy
        self._tidy_seconds, self._clock = tidy_seconds, clock
        self._tidied: dict[str, float] = {}  # key -> when its state was last tidied
        create_tables(_meta, engine)
        insert = dialect_insert(engine.dialect.name)(stream_state)
        self._upsert = insert.on_conflict_do_update(
            index_elements=["store", "key"],
            set_={"version": insert.excluded.version, "value": insert.excluded.value})
        self._create = insert.on_conflict_do_nothing(index_elements=["store", "key"])
        # Rows are locked in the order of Python's sorted keys (chunks follow it too): bytes,
        # whatever the database's default collation.
        self._key_order = (stream_state.c.key.collate("C")
                           if engine.dialect.name == "postgresql" else stream_state.c.key)
        self._cache: dict[str, tuple[int, dict[str, Any]]] = {}  # key -> (version, state)
        self._dirty: set[str] = set()
        self._conn: Connection | None = None
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
        return hit[1]

    def commit(self, meta: dict[str, str] | None = None) -> None:
        """Write every state looked up in this batch (and the ``meta`` bookkeeping values) and
        commit the batch's transaction."""
        conn = self._open()
        rows = []
        now = self._clock()
        for key in self._dirty:
            version, state = self._cache[key]
            if self._tidy is not None and now - self._tidied.get(key, -1e18) >= self._tidy_seconds:
                self._tidy(state)
                self._tidied[key] = now
            rows.append({"store": self.name, "key": key, "version": version + 1,
                         "value": encode_state(state)})
            self._cache[key] = (version + 1, state)
        try:
            for start in range(0, len(rows), _CHUNK):
                conn.execute(self._upsert, rows[start:start + _CHUNK])
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

    def _refresh(self, keys: list[str], lock: bool) -> None:
        conn = self._open()
        lock_rows = lock and self.engine.dialect.name != "sqlite"
        if lock_rows:
            self._create_missing(conn, keys)
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start:start + _CHUNK]
            query = select(stream_state.c.key, stream_state.c.version).where(
                stream_state.c.store == self.name, stream_state.c.key.in_(chunk)
            ).order_by(self._key_order)
            versions = dict(conn.execute(query.with_for_update() if lock_rows else query).all())
            stale = [k for k, v in versions.items()
                     if k not in self._cache or self._cache[k][0] != v]
            if stale:
                for k, v, raw in conn.execute(select(
                        stream_state.c.key, stream_state.c.version, stream_state.c.value).where(
                        stream_state.c.store == self.name, stream_state.c.key.in_(stale))):
                    self._cache[k] = (v, decode_state(raw))
            for k in chunk:
                if k not in versions:
                    self._cache[k] = (0, {})  # never stored (or dropped): version 0

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


def read_meta(engine: Engine, key: str) -> str | None:
    """A bookkeeping value stored next to the states (e.g. the processing watermark)."""
    create_tables(_meta, engine)
    with engine.connect() as conn:
        raw = conn.execute(select(stream_state.c.value).where(
            stream_state.c.store == META_STORE, stream_state.c.key == key)).scalar_one_or_none()
    return None if raw is None else raw.decode()


def write_meta(conn: Connection, dialect: str, key: str, value: str) -> None:
    insert = dialect_insert(dialect)(stream_state)
    conn.execute(insert.values(store=META_STORE, key=key, version=0, value=value.encode())
                 .on_conflict_do_update(index_elements=["store", "key"],
                                        set_={"value": value.encode()}))


#: Bookkeeping rows live under this store name.
META_STORE = "__meta__"

