from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from models.training.data import labels_as_of
from models.training.fit import TrainConfig, prepare
from models.training.splits import TimeSplit, prequential_splits, time_split

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
