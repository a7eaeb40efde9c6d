"""What scoring a micro-batch yields, and the reason codes that explain its alerts.

No MLflow here: the stream and the test doubles build :class:`ScoredBatch` too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class ScoredBatch:
    """One micro-batch scored by one model version (rows in input order).

    ``score`` decides alerts against ``alert_threshold`` (the model's own); the member scores
    are NaN where a model has no such member. ``reason_codes[i]`` is None where none were
    computed (below the reason-code minimum score), else up to k ``"feature:+contribution"``
    strings, largest first. The shadow fields are the challenger's view of the same rows and
    never affect alerts.
    """

    model_name: str
    model_version: str
    alert_threshold: float
    score: np.ndarray
    score_supervised: np.ndarray
    score_anomaly: np.ndarray
    reason_codes: list[list[str] | None]
    shadow_score: np.ndarray | None = None
    shadow_model_version: str | None = None

    def __len__(self) -> int:
        return len(self.score)

    @property
    def model_ref(self) -> str:
        """``name/version``: what the lake's ``model_version`` column and alerts carry."""
        return f"{self.model_name}/{self.model_version}"

    @property
    def shadow_model_ref(self) -> str | None:
        if self.shadow_model_version is None:
            return None
        return f"{self.model_name}/{self.shadow_model_version}"

    @property
    def is_alert(self) -> np.ndarray:
        return self.score >= self.alert_threshold


def top_reasons(contributions: np.ndarray, feature_names: Sequence[str],
                top_k: int) -> list[list[str]]:
    """Per row, the ``top_k`` features pushing risk up most, as ``"name:+1.84"``.

    Only positive contributions count (a feature that lowers risk is no reason to alert);
    ties go to the feature declared first.

    >>> top_reasons(np.array([[0.5, -2.0, 1.25], [-1.0, -1.0, 0.0]]), ["a", "b", "c"], 2)
    [['c:+1.25', 'a:+0.50'], []]
    """
    contributions = np.asarray(contributions, dtype=np.float64)
    if contributions.ndim != 2 or contributions.shape[1] != len(feature_names):
        raise ValueError(f"contributions of shape {contributions.shape} for "
                         f"{len(feature_names)} features")
    k = min(top_k, len(feature_names))
    if k <= 0 or len(contributions) == 0:
        return [[] for _ in range(len(contributions))]
    safe = np.where(np.isfinite(contributions), contributions, 0.0)
    order = np.argsort(-safe, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(safe, order, axis=1)
    names = list(feature_names)
    return [[f"{names[j]}:{v:+.2f}" for j, v in zip(row_idx, row_val, strict=True) if v > 0]
            for row_idx, row_val in zip(order.tolist(), values.tolist(), strict=True)]


def reasons_for(scores: np.ndarray, min_score: float,
                contributions_of: Callable[[np.ndarray], np.ndarray],
                feature_names: Sequence[str], top_k: int) -> list[list[str] | None]:
    """Reason codes for the rows scoring at least ``min_score`` (None for the others).

    ``contributions_of(mask)`` computes contributions for the selected rows only: it is far
    slower than scoring, so it runs on the few rows that need explaining.
    """
    out: list[list[str] | None] = [None] * len(scores)
    if top_k <= 0:
        return out
    mask = np.asarray(scores >= min_score)
    if not mask.any():
        return out
    codes = top_reasons(contributions_of(mask), feature_names, top_k)
    for i, c in zip(np.flatnonzero(mask).tolist(), codes, strict=True):
        out[i] = c
    return out
