"""Refitting the members on the whole training window once everything else is chosen.

The members are first fitted on the fit window (the older ~55 % of the training window) so
that the combiner weights, the member selection and the alert policy can be chosen on rows the
members never saw. Those choices made, the members are fitted again on the whole training
window up to ``train_end`` (labels as of the same cutoff, the gap still untouched): the model
that serves has then seen the most recent weeks, where new fraud patterns show first.

What is kept from the first fit: the combiner's weights (a member's weight says how much its
log-odds count, a property of the member *kind* on these data rather than of one booster), the
members kept, and the **alert policy as an alert rate** — the share of validation rows the
validation-chosen threshold alerted (never above the budget). The score threshold is not kept:
the refitted boosters score on a slightly different scale, and a threshold is only meaningful
for the model it was chosen for. It is recomputed as the lowest threshold alerting at most that
rate of the **calibration rows**: the gap window, which no model was fitted on and is the
nearest thing to live traffic the training data has (its labels are immature, but a rate needs
none). When the gap holds fewer than :data:`MIN_CALIBRATION_ROWS` rows the validation window
is used instead — rows the refitted members have now seen, which the model card says.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from features import FEATURE_NAMES
from models.ensemble.anomaly import AnomalyModel
from models.ensemble.model import EnsembleModel
from models.ensemble.supervised import SupervisedModel, XGBParams
from models.training.evaluation import AlertPolicy, budget_threshold

#: Fewer gap rows than this and the threshold is recalibrated on the validation window: at a
#: 0.5 % budget 2,000 rows hold about 10 alerts, the least a rate can be read from.
MIN_CALIBRATION_ROWS = 2_000


def refit_members(model: EnsembleModel, X: np.ndarray, y: np.ndarray,  # noqa: N803
                  xgb: XGBParams, iforest_trees: int, iforest_max_samples: int,
                  seed: int) -> EnsembleModel:
    """A copy of ``model`` whose members are fitted again on ``X``/``y`` (the whole training
    window, labels as of the cutoff), with the same combiner and member selection. The alert
    threshold is left to :func:`transfer_policy`."""
    if not y.any():
        raise ValueError("no fraud label known at the cutoff in the training window")
    supervised = SupervisedModel.fit(X, y, FEATURE_NAMES, xgb, seed=seed)
    anomaly = AnomalyModel.fit(X[~y.astype(bool)], FEATURE_NAMES, n_estimators=iforest_trees,
                               max_samples=iforest_max_samples, seed=seed,
                               columns=model.anomaly.columns)
    refit = EnsembleModel(supervised, anomaly, model.combiner, model.alert_threshold,
                          model.threshold_rule)
    refit.member_selection = model.member_selection
    return refit


def calibration_rows(masks: dict[str, np.ndarray]) -> tuple[str, np.ndarray]:
    """``("gap", mask)`` when the gap window has enough rows, else ``("validation", mask)``."""
    if int(masks["gap"].sum()) >= MIN_CALIBRATION_ROWS:
        return "gap", masks["gap"]
    return "validation", masks["validation"]


def transfer_policy(policy: AlertPolicy, selected_scores: np.ndarray,
                    calibration_scores: np.ndarray) -> AlertPolicy:
    """``policy`` (chosen on validation with the first fit's ``selected_scores``) for the
    refitted model: the same alert rate on its ``calibration_scores``.

    The threshold alerts at most ``policy.alert_rate`` of the calibration rows (ties at the
    edge left out, as the budget's), so the refitted model never alerts more than the budget
    there; ``rule_threshold`` is the rule's own rate carried over the same way. Precision and
    recall stay the validation figures of the first fit: the calibration rows have no mature
    labels to measure them on.

    >>> p = AlertPolicy(0.8, "cost", 0.8, 0.5, 0.25, 1.0, 0.5)
    >>> val = np.array([.1, .2, .3, .9]); cal = np.array([.01, .02, .03, .04, .05, .06, .7, .8])
    >>> q = transfer_policy(p, val, cal)
    >>> q.threshold > 0.06 and q.threshold <= 0.7, q.alert_rate, q.budget
    (True, 0.25, 0.5)
    """
    s = np.asarray(calibration_scores, dtype=np.float64)
    if not len(s):
        return policy
    rate = policy.alert_rate if np.isfinite(policy.alert_rate) else policy.budget
    threshold = budget_threshold(s, rate)
    selected = np.asarray(selected_scores, dtype=np.float64)
    rule_rate = float((selected >= policy.rule_threshold).mean()) if len(selected) else rate
    rule_threshold = budget_threshold(s, rule_rate)
    return replace(policy, threshold=threshold, rule_threshold=min(rule_threshold, threshold),
                   alert_rate=float((s >= threshold).mean()))
