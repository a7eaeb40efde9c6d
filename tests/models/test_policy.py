"""The alert policy: a rule's threshold capped by an alert budget, chosen on validation data."""

import pickle

import numpy as np
import pytest

from models.contract import alert_policy
from models.training.evaluation import budget_threshold, choose_policy
from models.training.fit import TrainConfig, fit_ensemble


@pytest.mark.parametrize("rule", ["cost", "precision", "top_share"])
@pytest.mark.parametrize("budget", [0.001, 0.005, 0.02])
def test_the_threshold_never_alerts_more_than_the_budget_on_validation(rule, budget):
    rng = np.random.default_rng(1)
    y = rng.random(5000) < 0.08
    # coarse scores: big tie groups at the budget's edge, where a quantile would let them in
    s = np.round(1 / (1 + np.exp(-rng.normal(-1 + 2 * y, 1.2))), 2)  # never 1.0: see below
    # each rule alone would alert well above every budget here (cheap alerts, low target)
    p = choose_policy(y, s, np.full(5000, 50_000), budget=budget, rule=rule,
                      alert_cost_minor=10, target_precision=0.1, top_share=0.2)
    assert (s >= p.rule_threshold).mean() > budget  # the rule alone breaks the budget …
    assert p.capped and p.threshold == max(p.rule_threshold, budget_threshold(s, budget))
    assert (s >= p.threshold).mean() <= budget  # … the policy does not
    assert p.alert_rate == (s >= p.threshold).mean() and p.budget == budget
    assert p.alert_rate > 0 and p.precision == pytest.approx(y[s >= p.threshold].mean())


def test_a_budget_above_the_rule_leaves_its_threshold():
    s = np.linspace(0, 1, 1000)
    p = choose_policy(np.zeros(1000, bool), s, budget=0.5, rule="top_share", top_share=0.01)
    assert not p.capped and p.threshold == p.rule_threshold
    assert p.alert_rate == pytest.approx(0.01, abs=0.002)


def test_the_fitted_model_carries_its_budget_and_validation_alert_rate(fitted):
    d, m = fitted.prepared, fitted.prepared.masks
    amount = d.frame["amount_minor"].to_numpy()
    # a rule that alerts 5 % of validation rows, under a 0.5 % budget
    config = TrainConfig(threshold_rule="top_share", top_share=0.05, alert_budget=0.005,
                         combiner_oof_folds=1)
    model = fit_ensemble(d.X[m["fit"]], d.y_known[m["fit"]], d.X[m["validation"]],
                         d.y_known[m["validation"]], amount[m["validation"]], config, seed=11)
    rate = float((model.score(d.X[m["validation"]]) >= model.alert_threshold).mean())
    assert 0 < rate <= 0.005
    assert model.alert_budget == 0.005 and model.validation_alert_rate == pytest.approx(rate)
    rule = model.threshold_rule
    assert rule.kind == "top_share" and rule.rule_threshold < model.alert_threshold
    assert model.describe()["alert_budget"] == 0.005
    # as the registry ships it, and as the gate and the scorer read it
    shipped = pickle.loads(pickle.dumps(model))
    assert alert_policy(shipped).budget == 0.005
    assert alert_policy(shipped).validation_alert_rate == pytest.approx(rate)


def test_a_model_pickled_before_the_budget_still_loads_without_one(fitted):
    model = pickle.loads(pickle.dumps(fitted.model))
    for name in ("budget", "validation_alert_rate", "rule_threshold"):
        del model.threshold_rule.__dict__[name]  # as an old pickle restores it
    assert model.alert_budget is None and model.validation_alert_rate is None
    assert alert_policy(model).reference_rate is None


def test_a_tie_at_the_top_of_the_range_is_the_one_budget_breach_and_is_reported():
    """The contract keeps thresholds in [0, 1] and a row alerts at ``score >= threshold``, so
    rows scoring exactly 1.0 always alert; the policy reports the rate it really achieved."""
    s = np.r_[np.ones(20), np.linspace(0, 0.9, 980)]
    p = choose_policy(np.zeros(1000, bool), s, budget=0.005, rule="top_share", top_share=0.01)
    assert p.threshold == 1.0 and p.alert_rate == 0.02


def test_every_model_of_the_comparison_reports_its_alerts_at_its_policy(fitted):
    d, m = fitted.prepared, fitted.prepared.masks
    y_test = d.y_eval[m["test"]]
    for name in ("ensemble", "xgboost", "isolation_forest", "rule_baseline"):
        row = fitted.comparison[name]
        s = fitted.scorers[name](d.X[m["test"]])
        alerted = s >= fitted.thresholds[name]
        assert row["alert_rate"] == pytest.approx(alerted.mean())
        if alerted.any():
            assert row["precision_at_policy"] == pytest.approx(y_test[alerted].mean())
        assert row["alert_budget"] == TrainConfig().alert_budget
        assert row["validation_alert_rate"] <= row["alert_budget"]  # same policy for all
    from models.training.evaluation import comparison_table

    assert {"alert_rate", "precision_at_policy", "validation_alert_rate"} <= set(
        comparison_table(fitted.comparison).columns)


def test_serving_reads_the_policy_and_tolerates_models_without_one(fitted):
    from models.ensemble.baseline import RuleBaseline
    from models.serving.loading import LoadedModel

    loaded = LoadedModel.of(fitted.model, "m", "1", "champion")
    assert loaded.alert_budget == 0.005
    assert loaded.validation_alert_rate == fitted.model.validation_alert_rate
    old = LoadedModel.of(RuleBaseline(), "m", "2", "champion")  # a ScoringModel without one
    assert old.alert_budget is None and old.validation_alert_rate is None
