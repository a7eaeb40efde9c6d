"""Aggregations over a window of the entity's transactions on its clock: counts, sums, means,
maxima, delayed-label fraud rates, distinct values, first sightings, structuring-band counts and
the network node's pass-through. Their features declare the window; the same object serves
every window (``online(view, w)``, ``offline(group, windows)``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from features import series as S
from features.aggregations.base import NAN, US, Aggregation, Column, OfflineGroup, OnlineView


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
