from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from models.training.evaluation import (
    EvalConfig,
    alert_cost,
    choose_threshold,
    evaluate,
    precision_at_k_per_day,
    recall_at_fpr,
)

D1 = datetime(2026, 1, 1, 10, tzinfo=UTC)
D2 = D1 + timedelta(days=1)


def _frame(rows):
    return pl.DataFrame(rows, schema={"occurred_at": pl.Datetime("us", "UTC"),
                                      "account_id": pl.String, "card_token": pl.String,
                                      "amount_minor": pl.Int64}, orient="row")


def test_precision_at_k_per_day_ranks_entities_and_drops_the_caught():
    frame = _frame([
        (D1, "a", None, 1), (D1, "a", None, 1), (D1, "b", None, 1), (D1, "c", None, 1),
        (D2, "a", None, 1), (D2, "b", None, 1), (D2, "c", None, 1), (D2, "d", None, 1)])
    scores = np.array([0.9, 0.1, 0.8, 0.2, 0.99, 0.7, 0.6, 0.1])
    labels = np.array([0, 1, 0, 0, 1, 1, 0, 0], dtype=bool)
    per_day = precision_at_k_per_day(frame, scores, labels, k=1, entity_columns=["account_id"])
    # day 1: a (max 0.9, one fraud) is top and a true alert → caught
    # day 2: a is caught already, so b (0.7, fraud) is the alert
    assert per_day["alerts"].to_list() == [1, 1]
    assert per_day["true_alerts"].to_list() == [1, 1]
    assert per_day["candidates"].to_list() == [3, 3]
    per_day2 = precision_at_k_per_day(frame, scores, labels, k=2, entity_columns=["account_id"])
    # day 1: a (fraud), b (legit) → 1/2; day 2: b (fraud), c (legit) → 1/2
    assert per_day2["precision"].to_list() == [0.5, 0.5]


def test_cards_and_accounts_are_separate_entities():
    frame = _frame([(D1, "a", "card1", 1), (D1, "b", None, 1)])
    per_day = precision_at_k_per_day(frame, np.array([0.9, 0.5]), np.array([True, False]), k=3)
    assert per_day["candidates"].to_list() == [3]  # account:a, card_token:card1, account:b
    assert per_day["true_alerts"].to_list() == [2]


def test_transaction_metrics_on_hand_made_scores():
    y = np.array([0] * 98 + [1, 1], dtype=bool)
    s = np.r_[np.linspace(0, 0.5, 98), 0.45, 0.9]
    s[97] = 0.95  # one legit above both frauds
    # flagging one of 98 legit (FPR 1.02%) catches the 0.9 fraud; FPR ≤ 1% catches none
    assert recall_at_fpr(y, s, 0.011) == 0.5
    assert recall_at_fpr(y, s, 0.01) == 0.0
    assert recall_at_fpr(y, s, 0.2) == 1.0
    cost = alert_cost(y, s, np.full(100, 1000), threshold=0.8, alert_cost_minor=10)
    assert cost == {"alerts": 2.0, "missed_fraud_minor": 1000.0, "cost_minor": 1020.0}
    frame = _frame([(D1, f"a{i}", None, 1000) for i in range(100)])
    metrics = evaluate(frame, y, s, 0.8, EvalConfig(k_per_day=2, alert_cost_minor=10))
    assert metrics["precision_at_k"] == 0.5 and metrics["cost_minor"] == 1020.0
    assert 0 < metrics["average_precision"] < 1 and metrics["roc_auc"] < 1


@pytest.mark.parametrize("rule", ["cost", "precision", "top_share"])
def test_threshold_rules(rule):
    rng = np.random.default_rng(0)
    y = rng.random(2000) < 0.05
    s = np.clip(rng.normal(0.2 + 0.5 * y, 0.15), 0, 1)
    thr, used, precision, recall = choose_threshold(y, s, np.full(2000, 5000), rule=rule,
                                                    alert_cost_minor=1000, top_share=0.01)
    assert used == rule and 0 < thr < 1
    alerted = s >= thr
    assert precision == pytest.approx(y[alerted].mean())
    if rule == "precision":
        assert precision >= 0.5
    if rule == "top_share":
        assert alerted.mean() == pytest.approx(0.01, abs=0.002)
    if rule == "cost":  # every alert on a likely fraud pays: cost-optimal beats its neighbours
        def cost(t):
            return alert_cost(y, s, np.full(2000, 5000), t, 1000)["cost_minor"]
        assert cost(thr) <= min(cost(thr + 0.05), cost(thr - 0.05))
    # nothing to go on: falls back to the top share
    assert choose_threshold(np.zeros(10, bool), np.linspace(0, 1, 10), rule=rule)[1] == "top_share"
