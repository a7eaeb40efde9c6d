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
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl


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
