import logging
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from models.training.data import labels_as_of, load_events, load_labels
from models.training.fit import TrainConfig, prepare
from models.training.splits import (
    DEFAULT_GAP,
    SplitError,
    SplitPlan,
    TimeSplit,
    gap_for,
    measured_label_delay,
    prequential_splits,
    time_split,
)

from .conftest import split_of

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def test_time_split_leaves_the_gap_before_the_test_window():
    s = time_split(T0, T0 + 20 * DAY, gap=3 * DAY, test_fraction=0.25, validation_fraction=0.2)
    assert s.test_start == T0 + 15 * DAY and s.train_end == T0 + 12 * DAY
    assert s.gap == 3 * DAY and s.label_cutoff == s.test_start
    assert s.train_start < s.validation_start < s.train_end
    with pytest.raises(ValueError, match="no training window"):
        time_split(T0, T0 + 4 * DAY, gap=3 * DAY)
    with pytest.raises(ValueError, match="out of order"):
        TimeSplit(T0, T0 + DAY, T0 + 3 * DAY, T0 + 2 * DAY, T0 + 4 * DAY)


def test_prequential_windows_roll_forward_without_overlap():
    splits = list(prequential_splits(T0, T0 + 30 * DAY, train=10 * DAY, gap=2 * DAY,
                                     test=3 * DAY))
    assert len(splits) == 6
    for a, b in zip(splits, splits[1:], strict=False):
        assert b.test_start == a.test_end  # test windows tile the history
        assert b.train_end - b.train_start == 10 * DAY
    assert all(s.gap == 2 * DAY and s.test_end <= T0 + 30 * DAY for s in splits)
    grown = list(prequential_splits(T0, T0 + 30 * DAY, train=10 * DAY, gap=2 * DAY,
                                    test=3 * DAY, expanding=True))
    assert all(s.train_start == T0 for s in grown)


def test_training_labels_respect_the_cutoff_and_the_gap(history):
    config = TrainConfig()
    split = split_of(history, config)
    data = prepare(history.events, history.labels, split)
    m = data.masks
    t = data.frame["occurred_at"]
    assert (t.filter(m["train"]) < split.train_end).all()
    assert (t.filter(m["test"]) >= split.train_end + config.gap).all()
    assert not (m["train"] & m["test"]).any() and not (m["gap"] & m["train"]).any()
    # a fraud labelled after the cutoff is *not* a positive for training, only for evaluation
    labels = history.labels
    late = labels.filter(labels["labelled_at"] > split.label_cutoff)["transaction_id"]
    is_late = data.frame["transaction_id"].is_in(late.implode()).to_numpy()
    assert (is_late & m["train"] & data.y_eval).any()  # the history has such frauds
    assert not (is_late & data.y_known).any()
    known = labels_as_of(data.frame, history.labels.filter(
        history.labels["labelled_at"] <= split.label_cutoff))["label"].to_numpy()
    np.testing.assert_array_equal(known, data.y_known)
    # and fewer frauds are known for training than exist: the label delay bites
    assert data.y_known[m["train"]].sum() < data.y_eval[m["train"]].sum()


# -- split plans: dates, gap defaulting to the measured label delay, validation share --------

def _delayed(days_of_delay: list[float], n_events: int = 600):
    """Events hourly-spaced over 25 days; fraud labels on the first ones with these delays,
    plus a late not-fraud label and a fraud label of an unknown transaction (neither counts)."""
    events = pl.DataFrame({"transaction_id": [f"t{i}" for i in range(n_events)],
                           "occurred_at": [T0 + i * timedelta(hours=1) for i in range(n_events)]})
    k = len(days_of_delay)
    labels = pl.DataFrame({
        "transaction_id": [f"t{i}" for i in range(k)] + ["t0", "elsewhere"],
        "is_fraud": [True] * k + [False, True],
        "labelled_at": [T0 + i * timedelta(hours=1) + d * DAY for i, d in
                        enumerate(days_of_delay)] + [T0 + 90 * DAY, T0 + 99 * DAY]})
    return events, labels


def test_the_label_delay_is_measured_on_fraud_labels_of_known_transactions():
    events, labels = _delayed([float(d) for d in range(1, 21)])  # 1 … 20 days
    assert measured_label_delay(events, labels) == timedelta(days=19.05)  # linear 95 %
    assert measured_label_delay(events, labels, 0.5) == timedelta(days=10.5)
    assert gap_for(timedelta(days=19.05)) == 20 * DAY
    assert measured_label_delay(events, labels.filter(~pl.col("is_fraud"))) is None


def test_the_gap_defaults_to_the_measured_delay_and_a_shorter_one_is_a_warning(caplog):
    events, labels = _delayed([1.0] * 10 + [3.2] * 10)  # 95 % within 3.2 days → 4 days
    with caplog.at_level(logging.WARNING, logger="models.training.splits"):
        split = SplitPlan().resolve(events, labels)
    assert split.gap == 4 * DAY and not caplog.records
    with caplog.at_level(logging.WARNING, logger="models.training.splits"):
        short = SplitPlan(gap=2 * DAY).resolve(events, labels)
    assert short.gap == 2 * DAY
    [record] = caplog.records
    assert "shorter than the label delay" in record.getMessage()
    assert "within 3.2 days" in record.getMessage() and "gap of 4 days" in record.getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="models.training.splits"):
        SplitPlan(gap=5 * DAY).resolve(events, labels)
        # dates that imply a short gap are warned about too
        SplitPlan(train_end=T0 + 10 * DAY, test_start=T0 + 11 * DAY).resolve(events, labels)
    assert len(caplog.records) == 1
    assert SplitPlan().resolve(events, labels.clear()).gap == DEFAULT_GAP  # nothing to measure


def test_explicit_dates_and_validation_share_produce_that_split():
    events, labels = _delayed([1.0] * 5)
    plan = SplitPlan(train_start=T0 + DAY, train_end=T0 + 11 * DAY, test_start=T0 + 13 * DAY,
                     test_end=T0 + 20 * DAY, validation_fraction=0.2)
    assert plan.resolve(events, labels) == TimeSplit(
        T0 + DAY, T0 + 9 * DAY, T0 + 11 * DAY, T0 + 13 * DAY, T0 + 20 * DAY)
    # two of train end, gap, test start give the third; the rest from the data
    s = SplitPlan(test_start=T0 + 15 * DAY, gap=3 * DAY).resolve(events, labels)
    assert (s.train_start, s.train_end, s.test_end) == (  # events hourly up to hour 599
        T0, T0 + 12 * DAY, T0 + timedelta(hours=599, microseconds=1))
    with pytest.raises(SplitError, match="give two of the three"):
        SplitPlan(train_end=T0 + 11 * DAY, test_start=T0 + 13 * DAY, gap=DAY)
    with pytest.raises(SplitError, match="timezone-aware"):
        SplitPlan(test_start=datetime(2026, 1, 5))
    with pytest.raises(SplitError, match="out of order"):
        SplitPlan(test_start=T0 + 13 * DAY, test_end=T0 + 12 * DAY).resolve(events, labels)


def test_a_measured_gap_leaving_no_training_window_says_so():
    events, labels = _delayed([30.0] * 5)
    with pytest.raises(SplitError, match="measured label delay.*--gap-days"):
        SplitPlan().resolve(events, labels)


class _Stop(BaseException):  # noqa: N818 — not an Exception: the CLI's error edge lets it by
    """Stops the CLI at the training call, with the split it was given."""


def test_the_cli_passes_utc_dates_gap_and_share_to_the_split(tmp_path, monkeypatch, caplog):
    from flowlet import train_console
    from flowlet.cli import main

    events, labels = _delayed([1.0] * 10 + [6.5] * 10)
    seen = {}

    def fake_train(ev, lab, settings, *, split, config, **_):
        seen["split"] = split.resolve(load_events(ev), load_labels(lab))
        raise _Stop

    monkeypatch.setattr(train_console, "train_ensemble", fake_train)
    ev_path, lab_path = tmp_path / "events.parquet", tmp_path / "labels.parquet"
    full = events.with_columns(event_type=pl.lit("top_up"), amount_minor=pl.lit(100),
                               currency=pl.lit("EUR"), account_id=pl.lit("a"))
    full.write_parquet(ev_path)
    labels.write_parquet(lab_path)
    args = ["--data-dir", str(tmp_path), "train", "--events", str(ev_path), "--labels",
            str(lab_path)]
    with pytest.raises(_Stop):
        main([*args, "--train-start", "2026-01-02", "--train-end", "2026-01-12T02:00+02:00",
              "--test-start", "2026-01-14", "--test-end", "2026-01-20",
              "--validation-share", "0.2"])
    assert seen["split"] == TimeSplit(T0 + DAY, T0 + 9 * DAY, T0 + 11 * DAY, T0 + 13 * DAY,
                                      T0 + 19 * DAY)
    with pytest.raises(_Stop):
        main(args)  # the gap defaults to the measured delay: 95 % within 6.5 days → 7
    assert seen["split"].gap == 7 * DAY
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="models.training.splits"), \
            pytest.raises(_Stop):
        main([*args, "--gap-days", "2"])
    assert seen["split"].gap == 2 * DAY and "shorter than the label delay" in caplog.text
    with pytest.raises(SystemExit, match="validation share"):
        main([*args, "--validation-share", "1.5"])
