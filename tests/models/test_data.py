from datetime import UTC, datetime, timedelta

import pandas as pd
import polars as pl
import pytest

from core.frames import EVENT_SCHEMA
from models.training.data import (
    backtest_labels,
    feature_labels,
    labels_as_of,
    load_events,
    load_labels,
)
from simulator import History, simulate_history, write_history

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _events(n: int = 3) -> pl.DataFrame:
    return pl.DataFrame({
        "transaction_id": [f"t{i}" for i in range(n)], "event_type": ["card_capture"] * n,
        "occurred_at": [T0 + timedelta(hours=n - i) for i in range(n)],
        "amount_minor": [100 * (i + 1) for i in range(n)], "currency": ["EUR"] * n,
        "account_id": ["a"] * n, "merchant_id": ["m"] * n})


def test_events_are_completed_sorted_and_deduplicated(tmp_path):
    raw = pl.concat([_events(), _events().head(1)])
    path = tmp_path / "events.parquet"
    raw.write_parquet(path)
    for source in (raw, raw.to_pandas(), path):
        ev = load_events(source)
        assert ev.columns[:len(EVENT_SCHEMA)] == list(EVENT_SCHEMA)
        assert ev["transaction_id"].to_list() == ["t2", "t1", "t0"]  # by occurred_at
        assert ev["device_id"].null_count() == 3


def test_events_reject_naive_times_and_missing_columns():
    naive = _events().with_columns(pl.col("occurred_at").dt.replace_time_zone(None))
    with pytest.raises(ValueError, match="naive"):
        load_events(naive)
    with pytest.raises(ValueError, match="amount_minor"):
        load_events(_events().drop("amount_minor"))
    other_zone = _events().with_columns(pl.col("occurred_at").dt.convert_time_zone("Asia/Tokyo"))
    assert load_events(other_zone)["occurred_at"].dtype.time_zone == "UTC"


def test_labels_count_only_when_known_at_the_cutoff_and_latest_wins():
    ev = _events()
    labels = load_labels(pd.DataFrame({
        "transaction_id": ["t0", "t1", "t1", "zz"], "is_fraud": [True, True, False, True],
        "labelled_at": pd.to_datetime(["2026-01-03", "2026-01-02", "2026-01-05", "2026-01-02"],
                                      utc=True)}))
    assert labels["pattern"].null_count() == 4
    at = labels_as_of(ev, labels, datetime(2026, 1, 2, 12, tzinfo=UTC))  # rows t0, t1, t2
    assert at["label"].to_list() == [False, True, False]
    assert at["labelled"].to_list() == [False, True, False]
    assert labels_as_of(ev, labels, datetime(2026, 1, 4, tzinfo=UTC))["label"].to_list() == [
        True, True, False]
    assert labels_as_of(ev, labels)["label"].to_list() == [True, False, False]  # relabelled
    fl = feature_labels(ev, labels)
    assert set(fl["labelled_transaction_id"]) == {"t0", "t1"}  # unknown transaction dropped
    assert fl.columns == ["labelled_transaction_id", "merchant_id", "transaction_occurred_at",
                          "occurred_at", "is_fraud", "device_id", "counterparty_account_id"]


def test_simulated_history_has_delayed_labels(history):
    ev, lab = history.events, history.labels
    assert ev["is_fraud"].dtype == pl.Boolean and "pattern" in ev.columns
    joined = lab.join(ev.select("transaction_id", "occurred_at"), on="transaction_id")
    assert joined.height == lab.height
    assert (joined["labelled_at"] > joined["occurred_at"]).all()
    assert set(lab["source"]) == {"analyst", "chargeback"}
    fraud = set(ev.filter("is_fraud")["transaction_id"])
    known = set(lab.filter("is_fraud")["transaction_id"])
    assert known < fraud  # only the labels known by the end: some are still on their way
    truth = backtest_labels(ev, lab)
    assert set(truth.filter("is_fraud")["transaction_id"]) == fraud
    late = truth.filter(source="truth")
    assert late.height == len(fraud - known)
    assert (late["labelled_at"] > ev["occurred_at"].max()).all()
    # the eventual truth is never known at a cutoff inside the history
    cutoff = ev["occurred_at"].max()
    assert labels_as_of(ev, truth, cutoff).equals(labels_as_of(ev, lab, cutoff))


def test_labels_keep_source_and_extra_columns():
    raw = pl.DataFrame({"transaction_id": ["t1", "t0"], "is_fraud": [True, False],
                        "labelled_at": [T0 + timedelta(days=2), T0 + timedelta(days=1)],
                        "source": ["chargeback", "analyst"], "analyst_id": ["x", "y"]})
    labels = load_labels(raw)
    assert labels.columns == ["transaction_id", "is_fraud", "pattern", "labelled_at", "source",
                              "analyst_id"]
    assert labels["source"].to_list() == ["analyst", "chargeback"]  # by labelled_at
    assert load_labels(raw.drop("source"))["source"].null_count() == 2


def test_the_lake_history_layout_loads_like_the_frames(tmp_path):
    h = simulate_history(days=3, seed=2, customers=80, merchants=15)
    write_history(h, tmp_path)
    ev = load_events(tmp_path / "history" / "events")  # dt=*/part-0.parquet
    lab = load_labels(tmp_path / "history" / "labels")
    assert "dt" not in ev.columns and "dt" not in lab.columns
    assert History(ev, lab) == History(load_events(h.events), load_labels(h.labels))
    with pytest.raises(ValueError, match="nulls in required"):
        load_events(tmp_path / "history")  # events and labels mixed: not events
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no Parquet"):
        load_events(tmp_path / "empty")
