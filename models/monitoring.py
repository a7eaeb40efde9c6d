"""What a live model is compared with: its validation score distribution and alert rate.

Training records, on the registered model version (MLflow version tags, so a dashboard reads
them without loading the model):

* ``monitoring.score_reference`` — the validation scores' histogram, as shares of
  :data:`core.lake_aggregates.SCORE_BINS` equal bins over [0, 1] (the same bins as the lake's
  ``model_version`` cube, so live and reference line up bin for bin);
* ``monitoring.validation_alert_rate`` — the share of validation rows at or above the model's
  alert threshold: what the policy promised;
* ``monitoring.alert_budget`` — the policy's budget, when the model has one.

:func:`psi` (population stability index) says how far the live scores moved from the reference:
below 0.1 stable, 0.1–0.25 a moderate shift worth a look, above 0.25 a major shift (the usual
reading in credit-risk monitoring).

>>> ref = score_shares(np.array([0.01, 0.02, 0.03, 0.9]))
>>> round(psi(ref, ref), 6)
0.0
>>> psi(ref, score_shares(np.array([0.9, 0.91, 0.92, 0.93]))) > 0.25
True
>>> shift_in_words(0.05), shift_in_words(0.4)
('stable', 'major shift')

:func:`feature_psi` reads the same index for one feature's live values against its training
values (notebook 3, "Why this score").
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core.lake_aggregates import SCORE_BINS
from models.mlflow_env import MlflowClient

REFERENCE_TAG = "monitoring.score_reference"
VALIDATION_RATE_TAG = "monitoring.validation_alert_rate"
BUDGET_TAG = "monitoring.alert_budget"
#: A bin with no rows on one side counts as this share (PSI is undefined for an empty bin).
EMPTY_BIN_SHARE = 1e-4
MODERATE_SHIFT, MAJOR_SHIFT = 0.1, 0.25
#: A live alert rate above this multiple of the validation rate is flagged.
ALERT_RATE_FACTOR = 2.0


def score_shares(scores: np.ndarray) -> list[float]:
    """Share of ``scores`` in each of the lake's score bins (``floor(score × bins)``)."""
    s = np.asarray(scores, dtype=np.float64)
    s = s[~np.isnan(s)]
    if not len(s):
        return [0.0] * SCORE_BINS
    bins = np.clip(np.floor(s * SCORE_BINS), 0, SCORE_BINS - 1).astype(int)
    counts = np.bincount(bins, minlength=SCORE_BINS)
    return [float(c) / len(s) for c in counts]


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of ``actual`` against ``expected`` (shares or counts)."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape or not e.sum() or not a.sum():
        return math.nan
    e = np.maximum(e / e.sum(), EMPTY_BIN_SHARE)
    a = np.maximum(a / a.sum(), EMPTY_BIN_SHARE)
    return float(np.sum((a - e) * np.log(a / e)))


def feature_psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float:
    """PSI of a feature's ``actual`` (live) values against its ``expected`` (training) values.

    The bins are the training quantiles (``bins`` of them; repeated edges merged, so a feature
    with few distinct values gets fewer bins); missing values (NaN, ±inf) are a bin of their
    own, so a feature that goes missing live counts as a shift.

    >>> rng = np.random.default_rng(0)
    >>> train = rng.normal(size=5000)
    >>> feature_psi(train, rng.normal(size=5000)) < 0.1
    True
    >>> feature_psi(train, rng.normal(1.0, size=5000)) > 0.25
    True
    >>> feature_psi(np.zeros(100), np.full(100, np.nan)) > 0.25
    True
    """
    e = np.asarray(expected, dtype=np.float64)
    edges = quantile_edges(e, bins)
    return psi(bin_counts(edges, e), bin_counts(edges, np.asarray(actual, dtype=np.float64)))


def quantile_edges(values: np.ndarray, bins: int = 10) -> np.ndarray:
    """The inner bin edges :func:`feature_psi` uses: ``values``' quantiles, repeats merged.

    >>> quantile_edges(np.array([0.0, 0.0, 0.0, 1.0, 2.0]), 4).tolist()
    [0.0, 1.0]
    """
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    cuts = np.linspace(0, 1, bins + 1)[1:-1]
    return np.unique(np.quantile(finite, cuts)) if len(finite) else np.zeros(0)


def bin_counts(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Counts per bin of ``edges`` (``len(edges) + 1`` bins, right-closed at each edge), then
    one more for the missing values (NaN, ±inf).

    >>> bin_counts(np.array([0.0, 1.0]), np.array([-1, 0, 0.5, 1, 5, np.nan])).tolist()
    [1, 2, 2, 1]
    """
    x = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(x)
    binned = np.bincount(np.searchsorted(edges, x[ok], side="right"),
                         minlength=len(edges) + 1)
    return np.append(binned, (~ok).sum())


def shift_in_words(value: float) -> str:
    if math.isnan(value):
        return "no reference"
    if value < MODERATE_SHIFT:
        return "stable"
    return "moderate shift" if value < MAJOR_SHIFT else "major shift"


@dataclass(frozen=True)
class Reference:
    """A model version's validation figures, as training recorded them."""

    score_shares: tuple[float, ...]
    validation_alert_rate: float
    alert_budget: float = math.nan

    def tags(self) -> dict[str, str]:
        tags = {REFERENCE_TAG: json.dumps([round(x, 6) for x in self.score_shares]),
                VALIDATION_RATE_TAG: repr(self.validation_alert_rate)}
        if not math.isnan(self.alert_budget):
            tags[BUDGET_TAG] = repr(self.alert_budget)
        return tags

    @classmethod
    def from_scores(cls, scores: np.ndarray, threshold: float,
                    alert_budget: float = math.nan) -> Reference:
        s = np.asarray(scores, dtype=np.float64)
        rate = float((s >= threshold).mean()) if len(s) else math.nan
        return cls(tuple(score_shares(s)), rate, alert_budget)

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> Reference | None:
        """None when the version was registered without one (an older model)."""
        if REFERENCE_TAG not in tags:
            return None
        try:
            shares = tuple(float(x) for x in json.loads(tags[REFERENCE_TAG]))
            rate = float(tags.get(VALIDATION_RATE_TAG, "nan"))
            budget = float(tags.get(BUDGET_TAG, "nan"))
        except (ValueError, TypeError):
            return None
        return cls(shares, rate, budget) if len(shares) == SCORE_BINS else None


def read_references(client: MlflowClient, model_name: str) -> dict[str, Reference]:
    """``name/version`` (as the lake's ``model_version`` column) → that version's reference,
    for every registered version that has one."""
    found = {}
    for mv in client.search_model_versions(f"name = '{model_name}'"):
        ref = Reference.from_tags(mv.tags or {})
        if ref is not None:
            found[f"{model_name}/{mv.version}"] = ref
    return found
