"""The scorer's live feature drift, for the worker's ``/stats/``: a small sample of the
features it scored, against the champion's training reference (:mod:`models.drift`).

On the hot path it only copies a few rows per batch (:data:`ROWS_PER_BATCH`, evenly spaced)
into a ring buffer of the last :data:`SAMPLE_ROWS`; the PSI is computed when ``/stats/`` asks.
The reference is read when a champion is loaded, off the hot path; a version trained before
references were recorded has none, and the summary says so.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from models.drift import FeatureReference, drift_table

#: rows kept per batch and in all: a 500-row batch costs a 16-row copy; 2,000 rows are enough
#: to tell a major shift (PSI > 0.25) from a stable feature over ten bins
ROWS_PER_BATCH, SAMPLE_ROWS = 16, 2_000
#: features listed by name in the summary, the worst first
TOP = 5


class LiveFeatureDrift:
    def __init__(self, sample_rows: int = SAMPLE_ROWS,
                 rows_per_batch: int = ROWS_PER_BATCH) -> None:
        self._rows_per_batch = rows_per_batch
        self._size = sample_rows
        self._names: tuple[str, ...] = ()
        self._buffer = np.zeros((0, 0))
        self._filled = 0
        self._next = 0
        self._lock = threading.Lock()  # add() on the stream, summary() from /stats/
        self.version: str | None = None
        self.reference: FeatureReference | None = None

    def use(self, version: str, reference: FeatureReference | None) -> None:
        """The champion now scoring and its training reference (None: it has none)."""
        self.version, self.reference = version, reference

    def add(self, features: pd.DataFrame, names: Sequence[str]) -> None:
        n = len(features)
        if not n:
            return
        take = np.unique(np.linspace(0, n - 1, min(n, self._rows_per_batch)).astype(int))
        # the scorer's input is one float64 block: a view, then 16 rows copied (pandas' own
        # row selection costs ~20× more)
        rows = np.asarray(features.to_numpy(dtype=np.float64, copy=False))[take]
        with self._lock:
            if tuple(names) != self._names:  # the first batch, or a model with other features
                self._names = tuple(names)
                self._buffer = np.full((self._size, len(names)), np.nan)
                self._filled = self._next = 0
            slots = (self._next + np.arange(len(rows))) % self._size
            self._buffer[slots] = rows
            self._next = int(slots[-1] + 1) % self._size
            self._filled = min(self._filled + len(rows), self._size)

    def summary(self) -> dict[str, Any]:
        """What ``/stats/`` shows: the reference window, the live rows sampled, how many
        features shifted (moderately, a lot) and the worst :data:`TOP` with their PSI."""
        reference = self.reference
        with self._lock:
            sample = self._buffer[:self._filled].copy()
            names = self._names
        out: dict[str, Any] = {"model": self.version, "live_rows": len(sample)}
        if reference is None:
            return {**out, "reference": None}
        out["reference"] = {"window_start": reference.window_start,
                            "window_end": reference.window_end, "rows": reference.rows}
        table = drift_table(reference, {n: sample[:, j] for j, n in enumerate(names)})
        out["major_shift"] = sum(r.shift == "major shift" for r in table)
        out["moderate_shift"] = sum(r.shift == "moderate shift" for r in table)
        out["worst"] = [{"feature": r.feature, "psi": round(r.psi, 4), "shift": r.shift}
                        for r in table[:TOP] if not np.isnan(r.psi)]
        return out
