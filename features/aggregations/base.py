"""What every typed aggregation shares: the base class, the views the engines hand it — one
entity's state online (:class:`OnlineView`), one entity kind's sorted history offline
(:class:`OfflineGroup`) — and the shape of an offline result (:data:`Column`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from features import series as S

if TYPE_CHECKING:
    import polars as pl

    from features.offline.arrays import Sorted

NAN = float("nan")
US = 1_000_000
#: Local hours that count as night for ``LocalNight``.
NIGHT_HOURS = range(0, 6)
#: One offline result: (rows, values, whether the rows are every row of the history).
Column = tuple[np.ndarray, np.ndarray, bool]


class Aggregation:
    """Base of the aggregations; ``name`` is what the registry shows."""

    name: ClassVar[str]
    #: Whether the aggregation is of the event against the entity's whole retained history
    #: (its feature declares no window) rather than over a window.
    windowless: ClassVar[bool] = False
    #: Which views the engines must prepare: "amounts" (the entity's count series and its
    #: per-currency amount series) or "labels" (its counted series and known labels).
    view: ClassVar[str] = ""

    def __str__(self) -> str:
        return self.name


@dataclass
class OnlineView:
    """One entity's state at the event just applied (times in µs on the entity's clock).

    ``events``: the series of all its transactions (all currencies); ``amounts``: of its
    transactions in the event's currency; ``counted``: the transactions its fraud rates count;
    ``labels``: ``state["labels"]``; ``t``: the event's own time (labels known by then count)."""

    now: int
    t: int = 0
    events: S.Series | None = None
    amounts: S.Series | None = None
    counted: S.Series | None = None
    labels: dict[str, list[Any]] | None = None
    #: Per column a ``Distinct`` counts: value -> the clock time it was last seen.
    memories: dict[str, dict[str, int]] | None = None
    #: ``FirstSeen``: the event, and per column value -> the clock time it was last seen
    #: *before* this event (the engine records the event's values after computing).
    event: Mapping[str, Any] | None = None
    seen: dict[str, dict[str, int]] | None = None
    #: ``PassThrough``: the node's money in and out in the event's currency.
    inflow: S.Series | None = None
    outflow: S.Series | None = None
    #: Behaviour: the event's amount; [n, sum, sum of squares] of the account's earlier amounts
    #: in its currency; the account's clock before this event (None: its first); the event's
    #: time in the account's home zone.
    amount: int = 0
    history: list[Any] | None = None
    prev: int | None = None
    local: datetime | None = None
    _frauds: list[tuple[int, int]] | None = field(default=None, repr=False)

    def frauds(self) -> list[tuple[int, int]]:
        """(placed time, known at) of the labels known at ``t`` that say fraud."""
        if self._frauds is None:
            self._frauds = [(tx_t, known_at) for tx_t, known_at, fraud in
                            (self.labels or {}).values() if fraud and known_at <= self.t]
        return self._frauds


@dataclass
class OfflineGroup:
    """One entity kind's events over a history, sorted by (entity, arrival).

    Velocity: ``entity`` (grouping by entity, with clocks) and ``entity_rows`` (its event row
    per sorted position); ``by_currency`` / ``currency_rows`` the same by (entity, currency);
    ``every``: the rows are all rows of the history. Delayed labels: ``entity``, its rows,
    ``counted`` (per sorted position, whether the rates count it and are given for it),
    ``codes`` (entity code), ``events`` (the history, with ``SEEN``), ``t`` (event times),
    ``labels`` (as ``features.offline.labels`` shapes them, or None) and ``key`` (the label
    column naming the entity). Distinct counts: ``values`` (per column, its code per sorted
    position, −1 for none) and ``given`` (the positions the group's features are given for;
    None: all)."""

    entity: Sorted
    entity_rows: np.ndarray
    every: bool = False
    by_currency: Sorted | None = None
    currency_rows: np.ndarray | None = None
    amount: np.ndarray | None = None  # per position of ``by_currency``
    counted: np.ndarray | None = None
    codes: np.ndarray | None = None
    events: pl.DataFrame | None = None
    t: np.ndarray | None = None
    labels: pl.DataFrame | None = None
    key: str = ""
    values: dict[str, np.ndarray] | None = None
    #: ``BandCount``: per sorted position of ``entity``, 1 if its amount is in the band.
    flags: np.ndarray | None = None
    #: ``PassThrough``: per position of ``by_currency``, money in and out, and which
    #: positions the group's features are given for (None: all).
    inflow: np.ndarray | None = None
    outflow: np.ndarray | None = None
    currency_given: np.ndarray | None = None
    given: np.ndarray | None = None
    #: Results several groups over the same sorted records share (the network node's).
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    def currency_window(self, w: int) -> tuple[np.ndarray, np.ndarray]:
        """Per position of ``by_currency``: first position of its window and the amount sum."""
        got = self.cache.get(("sum", w))
        if got is None:
            from features.offline.arrays import prefix_sums

            c = self.by_currency
            assert c is not None and self.amount is not None
            pre = self.cache.get("pre")
            if pre is None:
                pre = self.cache["pre"] = prefix_sums(self.amount)
            lo = c.first_above(-w)
            got = self.cache[("sum", w)] = np.stack([lo, pre[c.pos + 1] - pre[lo]])
        return got[0], got[1]
