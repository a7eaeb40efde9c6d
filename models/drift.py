"""Live feature drift: each feature's live values against the rows the model was trained on.

Training records a :class:`FeatureReference` with the run (``monitoring/feature_reference.json``,
an MLflow artifact: 91 features × 11 bins is too long for a version tag): per feature, the
training values' decile edges (:func:`models.monitoring.quantile_edges`) and the share of
training rows in each bin plus a bin for missing values — the same bins
:func:`models.monitoring.feature_psi` uses, so a reference gives the same PSI as the raw
training values did. It is taken on the rows the served members were fitted on (the whole
training window after a refit, else the fit window) and says which window that was.

:func:`drift_table` scores live rows against it: one row per feature, the worst first, the PSI
in plain words (:func:`models.monitoring.shift_in_words`). The model-health page and the
scorer's ``/stats/`` figures read it.

>>> rng = np.random.default_rng(1)
>>> train = rng.normal(size=(4000, 2))
>>> ref = FeatureReference.from_matrix(train, ("steady", "moved"), "2026-01-01", "2026-02-01")
>>> live = np.column_stack([rng.normal(size=2000), rng.normal(2.0, size=2000)])
>>> table = drift_table(ref, dict(zip(("steady", "moved"), live.T)))
>>> [(r.feature, r.shift) for r in table]
[('moved', 'major shift'), ('steady', 'stable')]
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.monitoring import bin_counts, psi, quantile_edges, shift_in_words

log = logging.getLogger(__name__)

#: Where training logs the reference, in the run's artifacts.
ARTIFACT_PATH = "monitoring/feature_reference.json"
#: Fewer live values than this for a feature and its PSI is not read (NaN): ten rows are too
#: few to call a shift.
MIN_LIVE_ROWS = 100


@dataclass(frozen=True)
class FeatureReference:
    """Per feature: inner bin edges and the training rows' counts per bin (last: missing)."""

    window_start: str  # ISO instants (UTC) of the training rows' event-time window
    window_end: str
    rows: int
    edges: Mapping[str, tuple[float, ...]]
    counts: Mapping[str, tuple[int, ...]]

    @classmethod
    def from_matrix(cls, X: np.ndarray, names: Sequence[str],  # noqa: N803
                    window_start: str, window_end: str, bins: int = 10) -> FeatureReference:
        X = np.asarray(X, dtype=np.float64)  # noqa: N806
        edges, counts = {}, {}
        for j, name in enumerate(names):
            e = quantile_edges(X[:, j], bins)
            edges[name] = tuple(float(x) for x in e)
            counts[name] = tuple(int(c) for c in bin_counts(e, X[:, j]))
        return cls(window_start, window_end, len(X), edges, counts)

    def psi(self, name: str, live: np.ndarray) -> float:
        """PSI of ``live`` values of feature ``name`` (NaN: unknown feature or too few rows)."""
        if name not in self.edges or len(live) < MIN_LIVE_ROWS:
            return float("nan")
        actual = bin_counts(np.asarray(self.edges[name]), np.asarray(live, dtype=np.float64))
        return psi(self.counts[name], actual)

    def to_dict(self) -> dict[str, object]:
        return {"window_start": self.window_start, "window_end": self.window_end,
                "rows": self.rows,
                "features": {n: {"edges": list(self.edges[n]), "counts": list(self.counts[n])}
                             for n in self.edges}}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> FeatureReference:
        features: Mapping[str, Mapping[str, list]] = d["features"]  # type: ignore[assignment]
        return cls(str(d["window_start"]), str(d["window_end"]), int(d["rows"]),  # type: ignore[call-overload]
                   {n: tuple(float(x) for x in f["edges"]) for n, f in features.items()},
                   {n: tuple(int(x) for x in f["counts"]) for n, f in features.items()})


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    psi: float
    #: "stable", "moderate shift", "major shift"; "no reference" (a feature the model was not
    #: trained with) or "too few live rows" (fewer than MIN_LIVE_ROWS) when there is no PSI
    shift: str
    live_rows: int
    live_missing: float  # share of live values missing
    reference_missing: float  # share of training values missing


def drift_table(reference: FeatureReference,
                live: Mapping[str, np.ndarray]) -> list[FeatureDrift]:
    """Every feature of ``live`` (name → values) against ``reference``, the worst first
    (features without a PSI last)."""
    rows = []
    for name, values in live.items():
        v = np.asarray(values, dtype=np.float64)
        value = reference.psi(name, v)
        counts = reference.counts.get(name)
        ref_missing = counts[-1] / sum(counts) if counts and sum(counts) else float("nan")
        words = ("no reference" if counts is None else "too few live rows"
                 if len(v) < MIN_LIVE_ROWS else shift_in_words(value))
        rows.append(FeatureDrift(name, value, words, len(v),
                                 float((~np.isfinite(v)).mean()) if len(v) else float("nan"),
                                 ref_missing))
    return sorted(rows, key=lambda r: (np.isnan(r.psi), -np.nan_to_num(r.psi), r.feature))


def read_reference(client: object, run_id: str) -> FeatureReference | None:
    """The reference training logged with run ``run_id``; None when it has none (a model
    trained before it was recorded) or the artifact cannot be read."""
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = client.download_artifacts(run_id, ARTIFACT_PATH, tmp)  # type: ignore[attr-defined]
            return FeatureReference.from_dict(json.loads(Path(path).read_text()))
    except Exception as exc:  # noqa: BLE001 - an older run, or a store that cannot be read
        log.info("no feature reference for run %s: %s", run_id, exc)
        return None


def champion_reference(client: object, model_name: str,
                       alias: str) -> tuple[str | None, FeatureReference | None]:
    """``("name/version", reference)`` of the version ``alias`` points at; ``(None, None)``
    without one."""
    from models.registry import resolve_alias

    version = resolve_alias(client, model_name, alias)  # type: ignore[arg-type]
    if version is None:
        return None, None
    mv = client.get_model_version(model_name, version)  # type: ignore[attr-defined]
    reference = read_reference(client, mv.run_id) if mv.run_id else None
    return f"{model_name}/{version}", reference
