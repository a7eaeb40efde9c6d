"""The model card: which members the ensemble kept and why, and what the training data could
not teach (features without variance).

A member is kept only when it adds average precision: on the rows the combiner is fitted on
(the validation window plus the out-of-fold scores over the fit window), the ensemble with the
IsolationForest must beat XGBoost alone by ``min_gain``; otherwise the combiner is refitted on
XGBoost alone — the ensemble *is* XGBoost, and the card says so. The card is logged with the
run (``model_card.md``) and on the registered version's tags (``model_card.*``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score

SUPERVISED, ANOMALY = "xgboost", "isolation_forest"


@dataclass(frozen=True)
class MemberSelection:
    kept: tuple[str, ...]
    ap_supervised: float  # XGBoost alone, on the combiner's rows
    ap_with_all: float  # every member, combined
    reason: str


def select_members(y: np.ndarray, margin: np.ndarray, combined_logit: np.ndarray,
                   w_anomaly: float, min_gain: float) -> MemberSelection:
    """Keep the IsolationForest when it adds more than ``min_gain`` AP (see the module doc).

    >>> y = np.array([0, 0, 1, 1, 0, 1])
    >>> m = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    >>> select_members(y, m, m + np.array([0, 0, 1, 0, 0, 0]), 0.5, 0.001).kept
    ('xgboost', 'isolation_forest')
    >>> select_members(y, m, m, 0.0, 0.001).reason
    'the combiner gave the IsolationForest no weight: the ensemble is XGBoost alone'
    """
    if not (y.any() and not y.all()):
        return MemberSelection((SUPERVISED,), float("nan"), float("nan"),
                               "a single class to weigh the members with: XGBoost alone")
    ap_sup = float(average_precision_score(y, margin))
    ap_all = float(average_precision_score(y, combined_logit))
    if w_anomaly <= 0:
        return MemberSelection((SUPERVISED,), ap_sup, ap_all,
                               "the combiner gave the IsolationForest no weight: the ensemble "
                               "is XGBoost alone")
    if ap_all > ap_sup + min_gain:
        return MemberSelection((SUPERVISED, ANOMALY), ap_sup, ap_all,
                               f"the IsolationForest adds {ap_all - ap_sup:+.4f} AP "
                               f"({ap_sup:.4f} → {ap_all:.4f}) on the combiner's rows")
    return MemberSelection((SUPERVISED,), ap_sup, ap_all,
                           f"the IsolationForest adds {ap_all - ap_sup:+.4f} AP (at most "
                           f"{min_gain:g} needed): dropped, the ensemble is XGBoost alone")


def constant_features(X: np.ndarray, names: tuple[str, ...]) -> tuple[str, ...]:  # noqa: N803
    """Features with a single value (or none) on ``X``: nothing to learn from them.

    >>> constant_features(np.array([[1.0, np.nan, 2], [1.0, np.nan, 3]]), ("a", "b", "c"))
    ('a', 'b')
    """
    out = []
    for j, name in enumerate(names):
        col = X[:, j]
        col = col[~np.isnan(col)]
        if col.size == 0 or np.all(col == col[0]):
            out.append(name)
    return tuple(out)


@dataclass(frozen=True)
class ModelCard:
    members: MemberSelection
    constant_features: tuple[str, ...]
    n_features: int

    def tags(self) -> dict[str, str]:
        return {"model_card.members_kept": ",".join(self.members.kept),
                "model_card.member_selection": self.members.reason,
                "model_card.constant_features": str(len(self.constant_features))}

    def markdown(self) -> str:
        m = self.members
        constant = ", ".join(self.constant_features) or "none"
        return "\n".join([
            "# Model card", "",
            f"- Members kept: {', '.join(m.kept)} — {m.reason}.",
            f"- Average precision on the combiner's rows: XGBoost alone {m.ap_supervised:.4f}, "
            f"all members combined {m.ap_with_all:.4f}.",
            f"- Features without variance on the fit window ({len(self.constant_features)} of "
            f"{self.n_features}; the model cannot use them): {constant}.", ""])
