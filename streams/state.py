"""The worker's keyed state: changelog-backed Faust tables of JSON, one read and one write per
key per micro-batch, each write on the changelog partition of its key's source partition."""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import faust
from faust.streams import _current_event, current_event


@contextmanager
def as_current(event: Any) -> Iterator[None]:
    """Run with ``event`` as Faust's current event: a table write goes to its partition."""
    token = _current_event.set(weakref.ref(event)) if event is not None else None
    try:
        yield
    finally:
        if token is not None:
            _current_event.reset(token)


class JsonStateTable:
    """A changelog-backed Faust table of JSON states, read once and written once per batch.

    Values are JSON bytes we encode ourselves (NaN survives; Faust's codec may not keep it).
    A micro-batch spans partitions, so each write runs with an event of the key's own partition
    set as Faust's current event — that decides the changelog partition (co-partitioning).
    """

    def __init__(self, app: faust.App, name: str, partitions: int,
                 tidy: Callable[[dict[str, Any]], None] | None = None,
                 seed: dict[str, dict[str, Any]] | None = None) -> None:
        self.table = app.Table(name, default=None, key_type=bytes, value_type=bytes,
                               partitions=partitions)
        self._tidy = tidy
        #: States rebuilt from the lake (``streams.recovery``) for keys the table lacks.
        self._seed = seed if seed is not None else {}
        self._cache: dict[str, tuple[bytes | None, dict[str, Any]]] = {}
        self._dirty: dict[str, Any] = {}
        self._deletes: list[tuple[str, Any]] = []

    def lookup(self, key: str) -> dict[str, Any]:
        """The key's state, to be mutated in place; the current event fixes its partition."""
        raw = self.table.get(key.encode())
        hit = self._cache.get(key)
        if hit is not None and hit[0] is raw:  # decoded already, and nobody wrote it since
            state = hit[1]
        else:
            state = json.loads(raw) if raw else self._seed.pop(key, None) or {}
            self._cache[key] = (raw, state)
        self._dirty[key] = current_event()
        return state

    def delete_later(self, key: str) -> None:
        self._deletes.append((key, current_event()))

    def flush(self) -> None:
        for key, event in self._dirty.items():
            state = self._cache[key][1]
            if self._tidy is not None:
                self._tidy(state)
            raw = json.dumps(state, separators=(",", ":")).encode()
            with as_current(event):
                self.table[key.encode()] = raw
            self._cache[key] = (raw, state)
        for key, event in self._deletes:
            with as_current(event):
                self.table.pop(key.encode(), None)
            self._cache.pop(key, None)
        self._dirty.clear()
        self._deletes.clear()
        if len(self._cache) > 50_000:  # bounded: the table itself is the source of truth
            self._cache.clear()
