"""Typed aggregations: each carries its online update and its offline function.

A stateful feature (``features.definitions.Feature``) declares *what* it aggregates with one
of these small frozen objects and *over what window* with its ``window``. The online engine
(``features.online``) and the offline builder (``features.offline``) dispatch on the object,
not on the feature's name, so adding a window (or an entity that already has the views an
aggregation reads) to a typed aggregation is one declaration line — as in quix-streams'
window aggregations and Feast's ``Aggregation``.

Each typed aggregation has

* ``online(view, w)`` — the value for the event just applied to one entity's state, from an
  :class:`OnlineView` (that entity's series at its clock), window ``w`` in microseconds;
* ``offline(group, windows)`` — vectorised over a whole history: per window (µs), the rows
  and values, from an :class:`OfflineGroup` (the entity's events sorted by entity and arrival,
  with their clocks).

Both implement the semantics of ``features/README.md``; the parity tests hold them equal.
Windowless aggregations (``ZScore``, ``RatioToMean``, ``SincePrevious``, ``LocalNight``,
``LocalWeekend``) compare the event with the entity's whole retained history; their features
declare no window.

>>> Count(), Max().name, FraudRate(7 * 24 * 3600).name, str(Distinct("account_id"))
(Count(), 'max', 'fraud_rate', 'distinct:account_id')
>>> Count() == Count(), str(FirstSeen("country")), ZScore.windowless
(True, 'first_seen:country', True)
"""

from __future__ import annotations

import math
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


@dataclass(frozen=True)
class Count(Aggregation):
    """Number of the entity's transactions in the window (all currencies)."""

    name: ClassVar[str] = "count"
    view: ClassVar[str] = "amounts"

    def online(self, v: OnlineView, w: int) -> float:
        assert v.events is not None
        n, _ = S.window(v.events, v.now, w)
        return float(n)

    def offline(self, g: OfflineGroup, windows: list[int]) -> list[Column]:
        e = g.entity
        return [(g.entity_rows, (e.pos - e.first_above(-w) + 1).astype(np.float64), g.every)
                for w in windows]


@dataclass(frozen=True)
class Sum(Aggregation):
    """Sum of the entity's amounts in the event's currency (minor units) in the window."""

    name: ClassVar[str] = "sum"
    view: ClassVar[str] = "amounts"

    def online(self, v: OnlineView, w: int) -> float:
        assert v.amounts is not None
        _, total = S.window(v.amounts, v.now, w)
        return float(total)

    def offline(self, g: OfflineGroup, windows: list[int]) -> list[Column]:
        assert g.currency_rows is not None
        return [(g.currency_rows, g.currency_window(w)[1].astype(np.float64), g.every)
                for w in windows]


@dataclass(frozen=True)
class Mean(Aggregation):
    """Mean of the entity's amounts in the event's currency in the window (NaN if none)."""

    name: ClassVar[str] = "mean"
    view: ClassVar[str] = "amounts"

    def online(self, v: OnlineView, w: int) -> float:
        assert v.amounts is not None
        k, total = S.window(v.amounts, v.now, w)
        return total / k if k else NAN

    def offline(self, g: OfflineGroup, windows: list[int]) -> list[Column]:
        c, rows = g.by_currency, g.currency_rows
        assert c is not None and rows is not None
        out = []
        for w in windows:
            lo, total = g.currency_window(w)
            out.append((rows, total.astype(np.float64) / (c.pos - lo + 1), g.every))
        return out


@dataclass(frozen=True)
class Max(Aggregation):
    """Largest of the entity's amounts in the event's currency in the window.

    Online the series keeps one monotonic deque per declared ``Max`` window (the engine
    appends with :func:`max_windows`), so a new window's deque fills from its deployment."""

    name: ClassVar[str] = "max"
    view: ClassVar[str] = "amounts"

    def online(self, v: OnlineView, w: int) -> float:
        assert v.amounts is not None
        top = S.window_max(v.amounts, w)
        return float(top) if top is not None else NAN

    def offline(self, g: OfflineGroup, windows: list[int]) -> list[Column]:
        from features.offline.arrays import range_max

        c, rows, a = g.by_currency, g.currency_rows, g.amount
        assert c is not None and rows is not None and a is not None
        # one sparse table for every window
        los = [g.currency_window(w)[0] for w in windows]
        top = range_max(a, np.concatenate(los), np.tile(c.pos, len(los))).astype(np.float64)
        return [(rows, top[j * len(a):(j + 1) * len(a)], g.every) for j in range(len(windows))]


@dataclass(frozen=True)
class FraudRate(Aggregation):
    """Share of the entity's counted transactions with clock time in
    ``(clock − delay − window, clock − delay]`` whose label known at the event says fraud
    (NaN without transactions there). ``delay`` in seconds."""

    delay: int
    name: ClassVar[str] = "fraud_rate"
    view: ClassVar[str] = "labels"

    def online(self, v: OnlineView, w: int) -> float:
        assert v.counted is not None
        end = v.now - self.delay * US
        total, _ = S.window(v.counted, end, w)
        n = sum(1 for tx_t, _ in v.frauds() if end - w < tx_t <= end)
        return n / total if total else NAN

    def offline(self, g: OfflineGroup, windows: list[int]) -> list[Column]:
        from features.offline.families import fraud_rate_columns

        return fraud_rate_columns(g, self.delay * US, windows)


@dataclass(frozen=True)
class Distinct(Aggregation):
    """Distinct values of ``column`` among the entity's transactions in the window (those
    without a value do not count). Online the state remembers each value's latest clock time
    (``OnlineView.memories``) for the longest ``Distinct`` window of the plan."""

    column: str
    name: ClassVar[str] = "distinct"
    view: ClassVar[str] = "memories"

    def __str__(self) -> str:
        return f"distinct:{self.column}"

    def online(self, v: OnlineView, w: int) -> float:
        assert v.memories is not None
        lower = v.now - w
        return float(sum(1 for t in v.memories[self.column].values() if t > lower))

    def offline(self, g: OfflineGroup, windows: list[int]) -> list[Column]:
        from features.offline.families import distinct

        assert g.values is not None
        key = ("distinct", self.column, tuple(windows))
        counts = g.cache.get(key)
        if counts is None:
            counts = g.cache[key] = distinct(g.entity, g.values[self.column], tuple(windows))
        if g.given is None:
            return [(g.entity_rows, n, g.every) for n in counts]
        rows = g.entity_rows[g.given]
        return [(rows, n[g.given], False) for n in counts]


@dataclass(frozen=True)
class FirstSeen(Aggregation):
    """1 if the account has not had this ``column`` value within the window (the lookback) on
    its clock before this event, 0 if it has, NaN when the event has no value."""

    column: str
    name: ClassVar[str] = "first_seen"
    view: ClassVar[str] = "seen"

    def __str__(self) -> str:
        return f"first_seen:{self.column}"

    def online(self, v: OnlineView, w: int) -> float:
        assert v.event is not None and v.seen is not None
        value = v.event.get(self.column)
        if not value:
            return NAN
        last = v.seen.get(self.column, {}).get(value)
        return 1.0 if last is None or last <= v.now - w else 0.0

    def offline(self, g: OfflineGroup, windows: list[int]) -> list[Column]:
        from features.offline.families import first_seen

        assert g.values is not None
        return [(g.entity_rows, first_seen(g.entity, g.values[self.column], w), g.every)
                for w in windows]


@dataclass(frozen=True)
class BandCount(Aggregation):
    """Number of the account's transactions in the window whose amount is just under the
    reporting threshold (``core.contract.structuring_band`` of the event's currency)."""

    name: ClassVar[str] = "band_count"
    view: ClassVar[str] = "amounts"

    def online(self, v: OnlineView, w: int) -> float:
        assert v.events is not None  # the engine flags band amounts in the account's series
        return float(S.window_flags(v.events, v.now, w))

    def offline(self, g: OfflineGroup, windows: list[int]) -> list[Column]:
        from features.offline.arrays import prefix_sums

        assert g.flags is not None
        e, pre = g.entity, prefix_sums(g.flags)
        return [(g.entity_rows, (pre[e.pos + 1] - pre[e.first_above(-w)]).astype(np.float64),
                 g.every) for w in windows]


@dataclass(frozen=True)
class PassThrough(Aggregation):
    """Money out / money in of the P2P network node in the event's currency over the window
    (NaN without money in): the own legs count the account's inflow and outflow event types,
    an in leg the transfer received."""

    name: ClassVar[str] = "pass_through"
    view: ClassVar[str] = "flows"

    def online(self, v: OnlineView, w: int) -> float:
        assert v.inflow is not None and v.outflow is not None
        _, total_in = S.window(v.inflow, v.now, w)
        _, total_out = S.window(v.outflow, v.now, w)
        return total_out / total_in if total_in else NAN

    def offline(self, g: OfflineGroup, windows: list[int]) -> list[Column]:
        from features.offline.arrays import prefix_sums

        c, rows = g.by_currency, g.currency_rows
        assert c is not None and rows is not None
        assert g.inflow is not None and g.outflow is not None
        pin = g.cache.get("pin")
        if pin is None:
            pin = g.cache["pin"] = prefix_sums(g.inflow)
            g.cache["pout"] = prefix_sums(g.outflow)
        pout = g.cache["pout"]
        given = g.currency_given
        out: list[Column] = []
        for w in windows:
            lo = c.first_above(-w)
            total_in = pin[c.pos + 1] - pin[lo]
            total_out = pout[c.pos + 1] - pout[lo]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(total_in != 0, total_out / total_in.astype(np.float64), np.nan)
            out.append((rows, ratio, g.every) if given is None
                       else (rows[given], ratio[given], False))
        return out


@dataclass(frozen=True)
class ZScore(Aggregation):
    """(amount − mean) / std of the account's earlier amounts in the event's currency
    (population std; NaN with fewer than 2 earlier or zero spread)."""

    name: ClassVar[str] = "zscore"
    windowless: ClassVar[bool] = True

    def online(self, v: OnlineView, w: int) -> float:
        assert v.history is not None
        n, s, q = v.history
        if n < 2:
            return NAN
        mean = s / n
        std = math.sqrt(max(q / n - mean * mean, 0.0))
        return (v.amount - mean) / std if std > 0 else NAN

    def offline(self, g: OfflineGroup, windows: list[int]) -> list[Column]:
        from features.offline.families import behaviour_columns

        assert g.currency_rows is not None
        return [(g.currency_rows, behaviour_columns(g)[0], g.every)]


@dataclass(frozen=True)
class RatioToMean(Aggregation):
    """amount / mean of the account's earlier amounts in the event's currency (NaN if none)."""

    name: ClassVar[str] = "ratio_to_mean"
    windowless: ClassVar[bool] = True

    def online(self, v: OnlineView, w: int) -> float:
        assert v.history is not None
        n, s, _ = v.history
        mean = s / n if n else NAN
        return v.amount / mean if n and mean > 0 else NAN

    def offline(self, g: OfflineGroup, windows: list[int]) -> list[Column]:
        from features.offline.families import behaviour_columns

        assert g.currency_rows is not None
        return [(g.currency_rows, behaviour_columns(g)[1], g.every)]


@dataclass(frozen=True)
class SincePrevious(Aggregation):
    """Seconds since the entity's previous transaction on its clock (NaN if first)."""

    name: ClassVar[str] = "since_prev"
    windowless: ClassVar[bool] = True

    def online(self, v: OnlineView, w: int) -> float:
        return NAN if v.prev is None else (v.now - v.prev) / US

    def offline(self, g: OfflineGroup, windows: list[int]) -> list[Column]:
        e = g.entity
        later = np.ones(len(e.seg), dtype=bool)
        later[0] = False
        later[1:] = e.seg[1:] == e.seg[:-1]
        since = np.full(len(e.seg), np.nan)
        since[later] = (e.clock[later] - e.clock[np.flatnonzero(later) - 1]) / US
        return [(g.entity_rows, since, g.every)]


@dataclass(frozen=True)
class LocalNight(Aggregation):
    """1 if it is night (``NIGHT_HOURS``) in the account's home time zone (home = country of
    its first transaction)."""

    name: ClassVar[str] = "local_night"
    windowless: ClassVar[bool] = True

    def online(self, v: OnlineView, w: int) -> float:
        assert v.local is not None
        return 1.0 if v.local.hour in NIGHT_HOURS else 0.0

    def offline(self, g: OfflineGroup, windows: list[int]) -> list[Column]:
        from features.offline.families import local_columns

        night, _ = local_columns(g)
        return [(np.arange(len(night)), night, True)]


@dataclass(frozen=True)
class LocalWeekend(Aggregation):
    """1 if it is Saturday or Sunday in the account's home time zone."""

    name: ClassVar[str] = "local_weekend"
    windowless: ClassVar[bool] = True

    def online(self, v: OnlineView, w: int) -> float:
        assert v.local is not None
        return 1.0 if v.local.weekday() >= 5 else 0.0

    def offline(self, g: OfflineGroup, windows: list[int]) -> list[Column]:
        from features.offline.families import local_columns

        _, weekend = local_columns(g)
        return [(np.arange(len(weekend)), weekend, True)]
