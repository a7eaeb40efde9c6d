"""Online feature computation, one event at a time, over a pluggable window store.

The stream plugs in Faust windowed tables (changelog-backed); tests and replays plug in the
in-memory store. Both implement :class:`WindowStore`.

>>> from flowlet.contract import TransactionEvent
>>> ev = TransactionEvent.model_validate({"transaction_id": "t1", "event_type": "top_up",
...     "occurred_at": "2026-01-01T10:15:00Z", "amount_minor": 700, "currency": "EUR",
...     "account_id": "a", "country": "DE", "channel": "web"})
>>> comp = WindowFeatureComputer(InMemoryWindowStore())
>>> comp.update(ev)["acct_amount_sum_1h"], comp.update(ev)["acct_tx_count_24h"]
(700.0, 2.0)
"""

from __future__ import annotations

from typing import Protocol

import polars as pl

from features.definitions import EVENT_FEATURES, WINDOW_FEATURES, WindowFeature, bucket_start
from flowlet.contract import TransactionEvent


class WindowStore(Protocol):
    def add_and_get(self, feature: WindowFeature, entity: str, key: str, ts: float,
                    value: float) -> float:
        """Add ``value`` to ``key``'s bucket holding ``ts``; return the bucket's new total.

        ``entity`` is the entity id the key belongs to (the state's partitioning key)."""
        ...

    def flush(self) -> None:
        """End of a micro-batch: persist what changed (no-op for in-memory state)."""
        ...


class InMemoryWindowStore:
    """Dict-backed tumbling windows; buckets older than two windows behind the newest expire."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str, int], float] = {}
        self._newest = 0.0

    def add_and_get(self, feature: WindowFeature, entity: str, key: str, ts: float,
                    value: float) -> float:
        slot = (feature.name, key, bucket_start(ts, feature.window_seconds))
        total = self._data.get(slot, 0.0) + value
        self._data[slot] = total
        if ts > self._newest + 3600:
            self._newest = ts
            self._expire()
        return total

    def flush(self) -> None:
        pass

    def _expire(self) -> None:
        sizes = {f.name: f.window_seconds for f in WINDOW_FEATURES}
        self._data = {
            slot: v for slot, v in self._data.items()
            if slot[2] + 2 * sizes.get(slot[0], 0) > self._newest
        }


def window_key(feature: WindowFeature, ev: TransactionEvent) -> str:
    entity = getattr(ev, feature.entity_column)
    return f"{entity}|{ev.currency}" if feature.per_currency else str(entity)


class WindowFeatureComputer:
    """Updates every declared window feature with one event and returns their new values."""

    def __init__(self, store: WindowStore) -> None:
        self.store = store

    def update(self, ev: TransactionEvent) -> dict[str, float]:
        ts = ev.occurred_at_epoch
        return {
            f.name: self.store.add_and_get(
                f, str(getattr(ev, f.entity_column)), window_key(f, ev), ts,
                1.0 if f.agg == "count" else float(ev.amount_minor),
            )
            for f in WINDOW_FEATURES
        }

    def flush(self) -> None:
        self.store.flush()


def with_event_features(frame: pl.DataFrame) -> pl.DataFrame:
    """Evaluate every declared event feature over a frame of events (batch or history)."""
    return frame.with_columns([f.expr.alias(f.name) for f in EVENT_FEATURES])
