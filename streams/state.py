"""The worker's keyed state, durable in Flowlet's own database (the broker keeps nothing).

Each stage's state is a :class:`StateStore`: JSON documents keyed by state key in table
``stream_state`` of the ledger's database (SQLite embedded, PostgreSQL deployed), read through
an in-process cache and written once per key per micro-batch, in one database transaction
(:meth:`StateStore.flush`). The worker flushes a batch's state only after the broker acked the
batch's outputs and before it commits the batch's offsets, so a crash at any point leaves
either the old state (the batch is redelivered and recomputed to the same values) or the new
one (the batch's outputs were delivered; its redelivery is recognised as applied).

The embedded broker is memory-only: the state must not outlive the records it describes
without Flowlet knowing. :mod:`streams.recovery` ties the stored state to one life of the broker
and rebuilds it from the lake when the broker lost its topics.

>>> from sqlalchemy import create_engine
>>> store = StateStore(create_engine("sqlite://"), "account")
>>> store.lookup("a-1")["count"] = 1
>>> store.flush()
>>> store.forget_cached(); store.lookup("a-1")
{'count': 1}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Column, Engine, LargeBinary, MetaData, String, Table, delete, select

from core.db import dialect_insert

_meta = MetaData()
stream_state = Table(
    "stream_state", _meta,
    Column("store", String(64), primary_key=True),
    Column("key", String(300), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

#: Decoded states kept in memory per store; beyond it the cache starts over (the database is
#: the source of truth, so forgetting costs a read, never a value).
CACHE_LIMIT = 50_000


def create_state_table(engine: Engine) -> None:
    _meta.create_all(engine)


class StateStore:
    """One stage's states: ``lookup(key)`` gives a mutable dict, ``flush()`` persists the
    batch's changes. Values are JSON we encode ourselves, so NaN survives."""

    def __init__(self, engine: Engine, name: str,
                 tidy: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.engine, self.name = engine, name
        self._tidy = tidy
        self._upsert = _upsert_statement(engine)
        create_state_table(engine)
        self._cache: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()
        self._deletes: set[str] = set()

    def lookup(self, key: str) -> dict[str, Any]:
        """The key's state, to be mutated in place and persisted by the next :meth:`flush`."""
        state = self._cache.get(key)
        if state is None:
            self.preload([key])
            state = self._cache[key]
        self._dirty.add(key)
        self._deletes.discard(key)
        return state

    def preload(self, keys: Iterable[str]) -> None:
        """Read the states of ``keys`` not in the cache in one query (empty if never stored)."""
        missing = list({k for k in keys if k not in self._cache})
        for start in range(0, len(missing), 500):
            chunk = missing[start:start + 500]
            with self.engine.connect() as conn:
                rows = conn.execute(select(stream_state.c.key, stream_state.c.value).where(
                    stream_state.c.store == self.name, stream_state.c.key.in_(chunk))).all()
            found = {k: json.loads(v) for k, v in rows}
            for k in chunk:
                self._cache[k] = found.get(k, {})

    def delete_later(self, key: str) -> None:
        self._deletes.add(key)
        self._dirty.discard(key)

    def flush(self) -> None:
        """Persist every state looked up (tidied) and every deletion since the last flush, in
        one database transaction."""
        rows = []
        for key in self._dirty:
            state = self._cache[key]
            if self._tidy is not None:
                self._tidy(state)
            rows.append({"store": self.name, "key": key,
                         "value": json.dumps(state, separators=(",", ":")).encode()})
        deletes = list(self._deletes)
        if rows or deletes:
            with self.engine.begin() as conn:
                if rows:
                    conn.execute(self._upsert, rows)
                for start in range(0, len(deletes), 500):
                    conn.execute(delete(stream_state).where(
                        stream_state.c.store == self.name,
                        stream_state.c.key.in_(deletes[start:start + 500])))
        for key in deletes:
            self._cache.pop(key, None)
        self._dirty.clear()
        self._deletes.clear()
        if len(self._cache) > CACHE_LIMIT:
            self._cache.clear()

    def forget_cached(self) -> None:
        """Drop the cached states a running batch did not touch: after a rebalance another
        worker may write them. The running batch's changes stay for its flush."""
        self._cache = {k: self._cache[k] for k in self._dirty}


def _upsert_statement(engine: Engine):  # type: ignore[no-untyped-def]
    stmt = dialect_insert(engine.dialect.name)(stream_state)
    return stmt.on_conflict_do_update(index_elements=["store", "key"],
                                      set_={"value": stmt.excluded.value})


def replace_all(engine: Engine, states: dict[str, dict[str, dict[str, Any]]],
                conn: Any) -> None:
    """Replace every stored state with ``states`` (store -> key -> state), on ``conn``."""
    conn.execute(delete(stream_state).where(stream_state.c.store != META_STORE))
    upsert = _upsert_statement(engine)
    rows = [{"store": store, "key": key, "value": json.dumps(state, separators=(",", ":")).encode()}
            for store, by_key in states.items() for key, state in by_key.items()]
    for start in range(0, len(rows), 5000):
        conn.execute(upsert, rows[start:start + 5000])


#: Bookkeeping rows (the broker life the state belongs to) live in this store.
META_STORE = "__meta__"
