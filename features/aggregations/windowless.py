"""Windowless (behaviour) aggregations: the event against the account's whole retained history
— its amount against its earlier amounts (``ZScore``, ``RatioToMean``), the time since its
previous transaction (``SincePrevious``), and its time in the account's home zone
(``LocalNight``, ``LocalWeekend``; the zone is ``core.geo``'s for the country of the account's
first transaction). Their features declare no window."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from features.aggregations.base import (
    NAN,
    NIGHT_HOURS,
    US,
    Aggregation,
    Column,
    OfflineGroup,
    OnlineView,
)


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
