"""The replay order (events with labels merged in by time) shared by parity tests and replays."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl

from features.offline.arrays import ROW, micros


def replay_order(events: pl.DataFrame, labels: pl.DataFrame | None = None
                 ) -> Iterator[tuple[str, dict[str, Any]]]:
    """Events (every row, in row order) with labels merged in by time: each label right before
    the first event whose ``occurred_at`` is ``>=`` the label's (labels first at equal times),
    labels among themselves by (``occurred_at``, row); labels known after every event last.

    For a history in time order this is the merge by time; replaying it through
    ``OnlineFeatures`` (``process`` for events, ``label`` for labels) applies every label with
    ``occurred_at <= t`` before an event at time ``t`` — the "known at t" of
    :func:`build_features` (see the module docstring for the one divergence)."""
    rows = events.to_dicts()
    if labels is None or labels.height == 0:
        for r in rows:
            yield "event", r
        return
    lab = labels.with_row_index(ROW).with_columns(micros(pl.col("occurred_at")).alias("__a"))
    lab = lab.sort(["__a", ROW])
    t = events.select(micros(pl.col("occurred_at"))).to_series().to_numpy()
    running = np.maximum.accumulate(t) if len(t) else t
    at = np.searchsorted(running, lab["__a"].to_numpy(), "left")
    lab_rows = lab.drop(ROW, "__a").to_dicts()
    j = 0
    for i, r in enumerate(rows):
        while j < len(lab_rows) and at[j] <= i:
            yield "label", lab_rows[j]
            j += 1
        yield "event", r
    for rest in lab_rows[j:]:
        yield "label", rest
