"""Refitting the members on the whole training window (``models.training.refit``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from models.training.evaluation import AlertPolicy
from models.training.fit import TrainConfig, fit_and_evaluate
from models.training.refit import MIN_CALIBRATION_ROWS, calibration_rows, transfer_policy

from .conftest import split_of


def _branch_fraud_in_validation(history, split) -> pl.DataFrame:
    """Labels where every branch transaction of the validation window is fraud, known an hour
    later: a pattern that exists only in the latest part of the training window."""
    ev = history.events
    planted = ev.filter((pl.col("channel") == "branch")
                        & (pl.col("occurred_at") >= split.validation_start)
                        & (pl.col("occurred_at") < split.train_end))
    assert planted.height >= 20, "too few branch transactions to plant a pattern on"
    extra = planted.select(
        "transaction_id", pl.lit(True).alias("is_fraud"),
        (pl.col("occurred_at") + timedelta(hours=1)).alias("labelled_at"))
    labels = history.labels
    extra = extra.with_columns([pl.lit(None, dtype=labels.schema[c]).alias(c)
                                for c in labels.columns if c not in extra.columns])
    return pl.concat([labels, extra.select(labels.columns).cast(labels.schema)])


@pytest.mark.slow  # two fits of the small history
def test_the_refit_members_learn_a_pattern_only_the_latest_weeks_show(history):
    config = TrainConfig()
    split = split_of(history, config)
    labels = _branch_fraud_in_validation(history, split)
    on = fit_and_evaluate(history.events, labels, split, config, seed=11)
    off = fit_and_evaluate(history.events, labels, split, replace(config, refit=False), seed=11)
    frame = on.prepared.frame
    branch_test = (frame["channel"] == "branch").to_numpy() & on.prepared.masks["test"]
    other_test = (frame["channel"] != "branch").to_numpy() & on.prepared.masks["test"]
    X = on.prepared.X  # noqa: N806  (same features: same events and labels)
    seen = on.model.supervised.score(X[branch_test]).mean()
    unseen = off.model.supervised.score(X[branch_test]).mean()
    # only the refit saw branch fraud: it scores the test window's branch rows far higher
    assert seen > 10 * unseen, (seen, unseen)
    # and it learnt *branch* fraud, not a higher base rate (the planted labels raise every
    # probability a little): the branch rows' rise is far larger than the other rows'
    rise_other = (on.model.supervised.score(X[other_test]).mean()
                  / off.model.supervised.score(X[other_test]).mean())
    assert seen / unseen > 100 * rise_other, (seen / unseen, rise_other)
    # the weights and members chosen on the first fit are kept
    assert on.model.combiner == off.model.combiner
    assert on.model.member_selection == off.model.member_selection


def test_the_card_says_which_rows_each_stage_used(fitted):
    stages = {s.stage: s for s in fitted.card.stages}
    m = fitted.prepared.masks
    assert fitted.card.refit and fitted.card.tags()["model_card.refit"] == "true"
    assert stages["members (first fit)"].rows == m["fit"].sum()
    assert stages["members (refit, served)"].rows == m["train"].sum()
    assert stages["members (refit, served)"].frauds_known == fitted.prepared.y_known[
        m["train"]].sum()
    assert stages["alert policy"].window == "validation"
    window, _ = calibration_rows(m)
    assert stages["alert threshold (recalibrated)"].window == window
    assert stages["evaluation"].rows == m["test"].sum()
    assert "## Data each stage used" in fitted.card.markdown()
    assert "members (refit, served): train window" in fitted.card.markdown()


def test_the_refit_threshold_keeps_the_policy_as_a_rate_on_unseen_rows(fitted):
    model = fitted.model
    rows = fitted.reference_rows
    assert rows.sum() >= MIN_CALIBRATION_ROWS or rows is fitted.prepared.masks["validation"]
    rate = float((model.score(fitted.prepared.X[rows]) >= model.alert_threshold).mean())
    assert rate == pytest.approx(model.validation_alert_rate)
    assert rate <= model.alert_budget
    assert model.threshold_rule.extra["selection_threshold"] != model.alert_threshold
    assert model.threshold_rule.extra["calibration_rows"] == rows.sum()


def test_without_refit_the_served_members_are_the_first_fit(history):
    config = replace(TrainConfig(), refit=False)
    off = fit_and_evaluate(history.events, history.labels, split_of(history, config), config,
                           seed=11)
    assert not off.card.refit and off.reference_mask is None
    assert [s.stage for s in off.card.stages] == [
        "members (first fit)", "combiner weights", "member selection", "alert policy",
        "evaluation"]
    assert "selection_threshold" not in off.model.threshold_rule.extra


def test_calibration_falls_back_to_validation_when_the_gap_is_small():
    n = MIN_CALIBRATION_ROWS
    masks = {"gap": np.r_[np.ones(n - 1, bool), np.zeros(5, bool)],
             "validation": np.r_[np.zeros(n - 1, bool), np.ones(5, bool)]}
    assert calibration_rows(masks)[0] == "validation"
    masks["gap"] = np.ones(n, bool)
    assert calibration_rows(masks)[0] == "gap"


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.05])
def test_a_transferred_policy_never_alerts_more_than_its_rate(rate):
    rng = np.random.default_rng(3)
    cal = np.round(rng.beta(0.5, 8, size=3000), 3)  # ties, as real scores have
    policy = AlertPolicy(0.9, "cost", 0.5, 0.05, rate, 0.4, 0.3)
    out = transfer_policy(policy, rng.random(500), cal)
    assert out.alert_rate <= rate + 1e-12
    assert out.alert_rate == pytest.approx((cal >= out.threshold).mean())
    assert out.rule_threshold <= out.threshold
    assert (out.budget, out.precision, out.recall) == (0.05, 0.4, 0.3)
