"""The model-health tables: each version's live figures next to what its validation promised,
and the champion's live feature drift against its training rows."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from core.lake_aggregates import SCORE_BINS
from models.drift import FeatureReference, drift_table
from models.monitoring import ALERT_RATE_FACTOR, MAJOR_SHIFT, Reference, psi, shift_in_words

COLUMNS = ["model_version", "status", "transactions", "alerts", "live_alert_rate",
           "validation_alert_rate", "alert_budget", "score_psi", "score_shift", "last_used"]


def health_table(versions: pd.DataFrame, bins: pd.DataFrame,
                 references: Mapping[str, Reference]) -> pd.DataFrame:
    """One row per version of ``queries.model_versions``, with ``status`` in plain words.

    >>> v = pd.DataFrame({"model_version": ["m/1"], "transactions": [1000], "alerts": [50],
    ...                   "alert_rate": [0.05], "last_used": [None]})
    >>> b = pd.DataFrame({"model_version": ["m/1"], "score_bin": [0], "transactions": [1000]})
    >>> ref = Reference(tuple([1.0] + [0.0] * (SCORE_BINS - 1)), 0.01)
    >>> row = health_table(v, b, {"m/1": ref}).iloc[0]
    >>> row["status"], float(round(row["score_psi"], 3)), row["score_shift"]
    ('alerting more than 2× its validation rate', 0.0, 'stable')
    """
    rows = []
    for v in versions.itertuples():
        counts = bins[bins["model_version"] == v.model_version].set_index("score_bin")
        live = [float(counts["transactions"].get(b, 0)) for b in range(SCORE_BINS)]
        ref = references.get(v.model_version)
        drift = psi(ref.score_shares, live) if ref else math.nan
        promised = ref.validation_alert_rate if ref else math.nan
        rate = float(v.alert_rate)
        if ref is None:
            status = "no validation reference"
        elif rate > ALERT_RATE_FACTOR * promised:
            status = f"alerting more than {ALERT_RATE_FACTOR:g}× its validation rate"
        elif drift >= MAJOR_SHIFT:
            status = "scores shifted"
        else:
            status = "as validated"
        rows.append({"model_version": v.model_version, "status": status,
                     "transactions": int(v.transactions), "alerts": int(v.alerts),
                     "live_alert_rate": rate, "validation_alert_rate": promised,
                     "alert_budget": ref.alert_budget if ref else math.nan,
                     "score_psi": drift, "score_shift": shift_in_words(drift),
                     "last_used": v.last_used})
    return pd.DataFrame(rows, columns=COLUMNS)


DRIFT_COLUMNS = ["feature", "psi", "shift", "live_missing", "reference_missing"]


def feature_drift_frame(reference: FeatureReference, live: pd.DataFrame) -> pd.DataFrame:
    """Per feature of ``live`` (recent lake rows, one column per feature), its PSI against the
    champion's training ``reference`` in plain words, the worst first (:mod:`models.drift`).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ref = FeatureReference.from_matrix(rng.normal(size=(3000, 2)), ("a", "b"), "s", "e")
    >>> live = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(3, size=500)})
    >>> feature_drift_frame(ref, live)[["feature", "shift"]].values.tolist()
    [['b', 'major shift'], ['a', 'stable']]
    """
    rows = drift_table(reference, {c: live[c].to_numpy(dtype="float64") for c in live.columns})
    return pd.DataFrame([{"feature": r.feature, "psi": r.psi, "shift": r.shift,
                          "live_missing": r.live_missing,
                          "reference_missing": r.reference_missing} for r in rows],
                        columns=DRIFT_COLUMNS)
