"""The model card: which members the ensemble kept and why, and what the training data could
not teach (features without variance), and which rows each training stage used
(:class:`DataStage`: the members' fit, the combiner, the member selection, the alert policy,
the refit on the whole training window and the threshold's recalibration).

A member is kept only when it adds average precision: on the rows the combiner is fitted on
(the validation window plus the out-of-fold scores over the fit window), the ensemble with the
IsolationForest must beat XGBoost alone by ``min_gain``; otherwise the combiner is refitted on
XGBoost alone — the ensemble *is* XGBoost, and the card says so. The card is logged with the
run (``model_card.md``) and on the registered version's tags (``model_card.*``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import average_precision_score

from models.training.splits import TimeSplit

SUPERVISED, ANOMALY = "xgboost", "isolation_forest"


@dataclass(frozen=True)
class MemberSelection:
    kept: tuple[str, ...]
    ap_supervised: float  # XGBoost alone, on the combiner's rows
    ap_with_all: float  # every member, combined
    reason: str
    rows: int = 0  # the combiner's rows the APs were measured on
    frauds: int = 0  # fraud labels among them


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
    size = {"rows": len(y), "frauds": int(np.sum(y))}
    if not (y.any() and not y.all()):
        return MemberSelection((SUPERVISED,), float("nan"), float("nan"),
                               "a single class to weigh the members with: XGBoost alone", **size)
    ap_sup = float(average_precision_score(y, margin))
    ap_all = float(average_precision_score(y, combined_logit))
    if w_anomaly <= 0:
        return MemberSelection((SUPERVISED,), ap_sup, ap_all,
                               "the combiner gave the IsolationForest no weight: the ensemble "
                               "is XGBoost alone", **size)
    if ap_all > ap_sup + min_gain:
        return MemberSelection((SUPERVISED, ANOMALY), ap_sup, ap_all,
                               f"the IsolationForest adds {ap_all - ap_sup:+.4f} AP "
                               f"({ap_sup:.4f} → {ap_all:.4f}) on the combiner's rows", **size)
    return MemberSelection((SUPERVISED,), ap_sup, ap_all,
                           f"the IsolationForest adds {ap_all - ap_sup:+.4f} AP (at most "
                           f"{min_gain:g} needed): dropped, the ensemble is XGBoost alone",
                           **size)


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
class DataStage:
    """The rows one training stage used: a window of event time and what it held."""

    stage: str  # e.g. "members", "combiner", "alert policy"
    window: str  # "fit", "validation", "train" (fit + validation), "gap", or a union
    start: str  # ISO instants, UTC; half-open [start, end)
    end: str
    rows: int
    frauds_known: int  # fraud labels known at the cutoff on those rows
    note: str = ""

    def line(self) -> str:
        note = f"; {self.note}" if self.note else ""
        return (f"- {self.stage}: {self.window} window [{self.start}, {self.end}), "
                f"{self.rows:,} rows, {self.frauds_known:,} frauds known at the cutoff{note}.")


@dataclass(frozen=True)
class ModelCard:
    members: MemberSelection
    constant_features: tuple[str, ...]
    n_features: int
    #: which rows each stage used, in the order they ran
    stages: tuple[DataStage, ...] = ()
    #: True when the served members were refitted on the whole training window
    refit: bool = False

    def tags(self) -> dict[str, str]:
        return {"model_card.members_kept": ",".join(self.members.kept),
                "model_card.member_selection": self.members.reason,
                "model_card.constant_features": str(len(self.constant_features)),
                "model_card.refit": str(self.refit).lower()}

    def stages_dict(self) -> list[dict[str, object]]:
        return [asdict(s) for s in self.stages]

    def markdown(self) -> str:
        m = self.members
        constant = ", ".join(self.constant_features) or "none"
        return "\n".join([
            "# Model card", "",
            f"- Members kept: {', '.join(m.kept)} — {m.reason}.",
            f"- Average precision on the combiner's rows: XGBoost alone {m.ap_supervised:.4f}, "
            f"all members combined {m.ap_with_all:.4f}.",
            f"- Features without variance on the "
            f"{'training' if self.refit else 'fit'} window the served members were fitted on "
            f"({len(self.constant_features)} of "
            f"{self.n_features}; the model cannot use them): {constant}.", "",
            "## Data each stage used", "",
            *(s.line() for s in self.stages), ""])


def data_stages(split: TimeSplit, masks: dict[str, np.ndarray], y_known: np.ndarray,
                y_eval: np.ndarray, selection: MemberSelection | None, *, oof_folds: int,
                rule: str, budget: float, calibration: str | None) -> tuple[DataStage, ...]:
    """Which rows each stage of ``models.training.fit.fit_and_evaluate`` used, for the card.
    ``calibration``: the window the refit's threshold was recalibrated on, None without a
    refit."""
    s = split
    windows = {"fit": (s.train_start, s.validation_start),
               "validation": (s.validation_start, s.train_end),
               "train": (s.train_start, s.train_end), "gap": (s.train_end, s.test_start),
               "test": (s.test_start, s.test_end)}

    def stage(name: str, window: str, note: str = "", rows: int | None = None,
              frauds: int | None = None) -> DataStage:
        start, end = windows[window]
        mask = masks[window]
        return DataStage(name, window, start.isoformat(), end.isoformat(),
                         int(mask.sum()) if rows is None else rows,
                         int(y_known[mask].sum()) if frauds is None else frauds, note)

    combiner_rows = ({"rows": selection.rows, "frauds": selection.frauds}
                     if selection is not None else {})
    oof = (f"the validation window plus out-of-fold XGBoost scores over the fit window's "
           f"{oof_folds - 1} later folds" if oof_folds > 1 else "the validation window")
    out = [stage("members (first fit)", "fit",
                 "XGBoost on every row, the IsolationForest on rows not known to be fraud"),
           stage("combiner weights", "train", oof, **combiner_rows),
           stage("member selection", "train", "the combiner's rows", **combiner_rows),
           stage("alert policy", "validation", f"{rule} rule capped by a {budget:g} budget")]
    if calibration is not None:
        out.append(stage("members (refit, served)", "train",
                         "combiner weights and members kept from the first fit"))
        out.append(stage("alert threshold (recalibrated)", calibration,
                         "the policy's validation alert rate on rows no member was fitted on"
                         if calibration == "gap" else
                         "too few gap rows: the validation window, which the refit saw"))
    out.append(stage("evaluation", "test", "scored against every label given",
                     frauds=int(y_eval[masks["test"]].sum())))
    return tuple(out)
