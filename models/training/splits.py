"""Time-based splits that respect label delay.

A split is four instants on the event-time axis::

    train_start ──[ fit ─────── | validation )── gap ──[ test )── test_end
                               validation_start   train_end   test_start

* members are fitted on ``[train_start, validation_start)``; the combiner and the alert threshold
  on ``[validation_start, train_end)``;
* the model is trained at ``label_cutoff = test_start``: only labels with
  ``labelled_at <= label_cutoff`` are used for fitting (``models.training.data.labels_as_of``). The
  gap ``[train_end, test_start)`` is never trained on: it gives the newest training events time for
  their labels to arrive (choose it ≥ the typical label delay) and keeps events whose features
  overlap the test period out of training;
* the test window ``[test_start, test_end)`` is scored by a model that has seen nothing from it;
  it is evaluated with every label available (ground truth in a backtest).

:func:`prequential_splits` rolls that layout forward: successive (train, test) windows, each
test window following the previous one, for a prequential ("test then train") evaluation.

:class:`SplitPlan` is a split asked for by dates and options (``flowlet train --train-start …
--gap-days … --validation-share …``), resolved against the data. Its gap defaults to the label
delay measured in the labels (:func:`measured_label_delay`: the 95th percentile of fraud labels'
``labelled_at − occurred_at``, rounded up to whole days); a shorter gap is logged as a warning,
since the fraud labelled after the cutoff then enters training as negatives.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

log = logging.getLogger(__name__)

#: the share of fraud labels the default gap lets arrive before the cutoff
LABEL_DELAY_QUANTILE = 0.95
#: the gap when there is no fraud label to measure the delay on
DEFAULT_GAP = timedelta(days=2)
DAY = timedelta(days=1)


class SplitError(ValueError):
    """Split dates or options that cannot make a split of the data."""


@dataclass(frozen=True)
class TimeSplit:
    train_start: datetime
    validation_start: datetime
    train_end: datetime
    test_start: datetime
    test_end: datetime

    def __post_init__(self) -> None:
        if not (self.train_start < self.validation_start < self.train_end <= self.test_start
                < self.test_end):
            raise ValueError(f"split instants out of order: {self}")

    @property
    def gap(self) -> timedelta:
        return self.test_start - self.train_end

    @property
    def label_cutoff(self) -> datetime:
        """Labels known at this instant are the only ones training may use."""
        return self.test_start

    def masks(self, occurred_at: pl.Series) -> dict[str, np.ndarray]:
        """Boolean row masks ``fit``, ``validation``, ``train`` (= both), ``gap``, ``test``."""
        t = occurred_at
        fit = ((t >= self.train_start) & (t < self.validation_start)).to_numpy()
        val = ((t >= self.validation_start) & (t < self.train_end)).to_numpy()
        gap = ((t >= self.train_end) & (t < self.test_start)).to_numpy()
        test = ((t >= self.test_start) & (t < self.test_end)).to_numpy()
        return {"fit": fit, "validation": val, "train": fit | val, "gap": gap, "test": test}

    def describe(self) -> dict[str, str]:
        return {k: v.isoformat() for k, v in (
            ("train_start", self.train_start), ("validation_start", self.validation_start),
            ("train_end", self.train_end), ("test_start", self.test_start),
            ("test_end", self.test_end), ("label_cutoff", self.label_cutoff))}


def time_split(start: datetime, end: datetime, *, gap: timedelta,
               test_fraction: float = 0.25, validation_fraction: float = 0.3) -> TimeSplit:
    """One split of ``[start, end)``: the last ``test_fraction`` is the test window, ``gap``
    precedes it, and the last ``validation_fraction`` of what remains is the validation window.

    >>> from datetime import UTC
    >>> s = time_split(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 21, tzinfo=UTC),
    ...                gap=timedelta(days=2))
    >>> s.train_end.day, s.test_start.day, s.gap.days, s.label_cutoff == s.test_start
    (14, 16, 2, True)
    """
    span = end - start
    test_start = end - span * test_fraction
    train_end = test_start - gap
    if train_end <= start:
        raise ValueError(f"a {gap} gap leaves no training window in {span} of history")
    validation_start = train_end - (train_end - start) * validation_fraction
    return TimeSplit(start, validation_start, train_end, test_start, end)


def prequential_splits(start: datetime, end: datetime, *, train: timedelta, gap: timedelta,
                       test: timedelta, step: timedelta | None = None,
                       expanding: bool = False,
                       validation_fraction: float = 0.3) -> Iterator[TimeSplit]:
    """Rolling (or, with ``expanding``, growing) windows: train, gap, test, moved by ``step``
    (default: ``test``, so test windows tile the history) until a test window would pass ``end``.

    >>> from datetime import UTC
    >>> d = timedelta(days=1)
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> [(s.train_start.day, s.train_end.day, s.test_start.day, s.test_end.day)
    ...  for s in prequential_splits(t0, t0 + 12 * d, train=5 * d, gap=d, test=2 * d)]
    [(1, 6, 7, 9), (3, 8, 9, 11), (5, 10, 11, 13)]
    """
    step = step or test
    offset = timedelta(0)
    while True:
        train_end = start + train + offset
        test_start = train_end + gap
        test_end = test_start + test
        if test_end > end:
            return
        train_start = start if expanding else train_end - train
        validation_start = train_end - (train_end - train_start) * validation_fraction
        yield TimeSplit(train_start, validation_start, train_end, test_start, test_end)
        offset += step


def measured_label_delay(events: pl.DataFrame, labels: pl.DataFrame,
                         quantile: float = LABEL_DELAY_QUANTILE) -> timedelta | None:
    """The ``quantile`` of ``labelled_at − occurred_at`` over the fraud labels of ``events``'
    transactions (negative delays count as 0); None without any.

    Only labels known by the data's end are there to measure, so on the newest weeks the delay
    is understated: a lower bound.

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> ev = pl.DataFrame({"transaction_id": ["a", "b", "c"], "occurred_at": [t, t, t]})
    >>> lab = pl.DataFrame({"transaction_id": ["a", "b", "c"], "is_fraud": [True, True, False],
    ...                     "labelled_at": [t + timedelta(days=1), t + timedelta(days=9), t]})
    >>> measured_label_delay(ev, lab, 0.5)
    datetime.timedelta(days=5)
    """
    fraud = labels.filter(pl.col("is_fraud").cast(pl.Boolean).fill_null(False)).select(
        "transaction_id", "labelled_at")
    delays = fraud.join(events.select("transaction_id", "occurred_at")
                        .unique("transaction_id", keep="first"),
                        on="transaction_id", how="inner").select(
        (pl.col("labelled_at") - pl.col("occurred_at")).dt.total_microseconds()
        .clip(lower_bound=0).alias("us"))["us"]
    if delays.is_empty():
        return None
    value = delays.quantile(quantile, interpolation="linear")
    return timedelta(microseconds=round(float(value)))  # type: ignore[arg-type]


def gap_for(delay: timedelta) -> timedelta:
    """A label delay rounded up to whole days (the default gap).

    >>> gap_for(timedelta(days=6, hours=1)), gap_for(timedelta(0))
    (datetime.timedelta(days=7), datetime.timedelta(0))
    """
    return DAY * math.ceil(delay / DAY)


@dataclass(frozen=True)
class SplitPlan:
    """A split asked for by dates and options; :meth:`resolve` makes it a :class:`TimeSplit`.

    Dates are instants (timezone-aware); windows are half-open, ``[train_start, train_end)`` and
    ``[test_start, test_end)``. Absent ones: ``train_start`` / ``test_end`` = the events' first /
    last time; ``test_start`` = ``train_end + gap``, else the last ``test_fraction`` of the
    history; ``train_end`` = ``test_start − gap``. ``gap`` None: given by ``train_end`` and
    ``test_start`` when both are, else the measured label delay (:func:`gap_for` of
    :func:`measured_label_delay`; :data:`DEFAULT_GAP` without fraud labels).
    ``validation_fraction``: the latest share of the train window that is the validation window.
    """

    train_start: datetime | None = None
    train_end: datetime | None = None
    test_start: datetime | None = None
    test_end: datetime | None = None
    gap: timedelta | None = None
    validation_fraction: float = 0.45
    test_fraction: float = 0.25

    def __post_init__(self) -> None:
        for name in ("train_start", "train_end", "test_start", "test_end"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise SplitError(f"{name} must be timezone-aware (UTC), got {value}")
        if not 0 < self.validation_fraction < 1:
            raise SplitError(f"validation share must be in (0, 1), got {self.validation_fraction}")
        if self.gap is not None and self.gap < timedelta(0):
            raise SplitError(f"the gap must not be negative, got {self.gap}")
        if (self.gap is not None and self.train_end is not None and self.test_start is not None
                and self.test_start - self.train_end != self.gap):
            raise SplitError(f"train_end {self.train_end} + gap {self.gap} != test_start "
                             f"{self.test_start}: give two of the three")

    def resolve(self, events: pl.DataFrame, labels: pl.DataFrame) -> TimeSplit:
        """The split over ``events`` (canonical, ``occurred_at`` in UTC), logging a warning when
        its gap is shorter than the label delay measured in ``labels``."""
        delay = measured_label_delay(events, labels)
        needed = gap_for(delay) if delay is not None else None
        if delay is not None:
            log.info("label delay measured: %.0f%% of fraud labels arrive within %s (gap %s)",
                     LABEL_DELAY_QUANTILE * 100, _days(delay), _days(needed))
        gap = self.gap
        if gap is None and self.train_end is not None and self.test_start is not None:
            gap = self.test_start - self.train_end
        if gap is None:
            if needed is None:
                log.info("no fraud label to measure the label delay on: gap %s", DEFAULT_GAP)
            gap = needed if needed is not None else DEFAULT_GAP
        t = events["occurred_at"]
        start = self.train_start or t.min()
        end = self.test_end or t.max() + timedelta(microseconds=1)  # type: ignore[operator]
        test_start = self.test_start or (self.train_end + gap if self.train_end is not None
                                         else end - (end - start) * self.test_fraction)
        train_end = self.train_end or test_start - gap
        if train_end <= start:
            raise SplitError(
                f"a {_days(gap)} gap leaves no training window before "
                f"{test_start:%Y-%m-%d %H:%M} UTC"
                + (f" (the gap is the measured label delay, {LABEL_DELAY_QUANTILE:.0%} of fraud "
                   f"labels within {_days(delay)}): give a shorter --gap-days or explicit dates"
                   if self.gap is None and gap == needed else ""))
        validation_start = train_end - (train_end - start) * self.validation_fraction
        try:
            split = TimeSplit(start, validation_start, train_end, test_start, end)
        except ValueError as exc:
            raise SplitError(str(exc)) from None
        if needed is not None and split.gap < needed:
            log.warning(
                "the gap (%s) is shorter than the label delay measured in the labels (%.0f%% of "
                "fraud labels arrive within %s): fraud labelled after the cutoff enters training "
                "as negatives; a gap of %s covers it", _days(split.gap),
                LABEL_DELAY_QUANTILE * 100, _days(delay), _days(needed))
        return split


def _days(span: timedelta | None) -> str:
    """``34.2 days``, ``7 days``."""
    if span is None:
        return "?"
    d = span / DAY
    return f"{d:g} days" if d == int(d) else f"{d:.1f} days"
