"""Labels arrive after the event, with the configured delays, and only once known."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from simulator import AML_PATTERNS, simulate_history
from simulator.labels import LabelDelays

END = datetime(2026, 9, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def long_history():
    """60 days, labels of the first 10 days essentially all known by the end."""
    return simulate_history(days=60, seed=4, end=END, customers=300, merchants=40,
                            fraud_rate=0.02, aml_rate=0.01,
                            label_delays=LabelDelays(missed_share=0.0))


def delays(history) -> pl.DataFrame:
    return history.labels.join(history.events.select("transaction_id", "occurred_at"),
                               on="transaction_id").with_columns(
        days=(pl.col("labelled_at") - pl.col("occurred_at")).dt.total_seconds() / 86_400,
        aml=pl.col("pattern").is_in(list(AML_PATTERNS)))


def test_labels_come_after_their_event_and_before_the_end(history):
    d = delays(history)
    assert d.height == history.labels.height > 0
    assert (d["days"] > 0).all()
    assert (history.labels["labelled_at"] < datetime(2026, 6, 1, tzinfo=UTC)).all()


def test_delays_follow_the_configured_distributions(long_history):
    early = delays(long_history).filter(
        pl.col("occurred_at") < END - timedelta(days=50), "is_fraud")
    fraud = early.filter(~pl.col("aml"))
    aml = early.filter("aml")
    configured = LabelDelays()
    assert 1.0 < fraud.filter(source="analyst")["days"].median() < 4.0
    charge = fraud.filter(source="chargeback")["days"]
    assert charge.len() > 0
    assert 0.6 * configured.chargeback_median_days < charge.median() \
        < 1.5 * configured.chargeback_median_days
    assert aml["days"].median() > 2 * fraud["days"].median()
    assert aml["days"].min() > 3


def test_every_case_is_labelled_when_none_is_missed(long_history):
    ev = long_history.events
    early_fraud = ev.filter(pl.col("occurred_at") < END - timedelta(days=50), "is_fraud",
                            ~pl.col("pattern").is_in(list(AML_PATTERNS)))
    labelled = set(long_history.labels.filter("is_fraud")["transaction_id"])
    assert set(early_fraud["transaction_id"]) <= labelled


def test_missed_share_leaves_cases_unlabelled():
    kwargs = dict(days=20, seed=8, customers=300, merchants=40, fraud_rate=0.03)
    all_found = simulate_history(**kwargs, label_delays=LabelDelays(missed_share=0.0))
    half_missed = simulate_history(**kwargs, label_delays=LabelDelays(missed_share=0.5))
    found = all_found.labels["is_fraud"].sum()
    assert 0.25 * found < half_missed.labels["is_fraud"].sum() < 0.75 * found


def test_charged_back_captures_come_back_as_chargeback_events(long_history):
    ev = long_history.events
    chargebacks = ev.filter(event_type="chargeback")
    assert chargebacks.height > 0 and not chargebacks["is_fraud"].any()
    origin = chargebacks.join(ev, left_on="original_transaction_id", right_on="transaction_id",
                              suffix="_origin")
    assert origin.height == chargebacks.height and origin["is_fraud_origin"].all()
    assert (origin["amount_minor"] == origin["amount_minor_origin"]).all()


def test_label_events_are_contract_objects(history):
    labels = history.label_events()
    assert len(labels) == history.labels.height
    assert all(lab.occurred_at > lab.transaction_occurred_at for lab in labels)
    assert {lab.source for lab in labels} == {"analyst", "chargeback"}
    times = np.array([lab.occurred_at.timestamp() for lab in labels])
    assert (np.diff(times) >= 0).all()
