"""``build_features`` with canonical labels equals the stream's values.

The stream's side is the worker's own parse and feature step (``streams.testing``'s
``InMemoryFeatures``: ``parse_batch`` + ``featurize`` over JSON records, no broker): a simulated
history's events and its labels as ``LabelEvent`` records, merged by the time each became known.
The offline side is ``build_features(events, labels)`` with the labels as training takes them
(``transaction_id``, ``is_fraud``, ``labelled_at``, ``pattern``, ``source``), joined to their
transactions for merchant, device and payee as the ``LabelEvent`` s carry them.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta

import polars as pl
import pytest

from features import FEATURES, build_features
from simulator import simulate_history
from streams.pipeline import RawRecord
from streams.testing import InMemoryFeatures

STATEFUL = [f.name for f in FEATURES]
RATE = "merchant_fraud_rate_30d_delay7d"


@pytest.fixture(scope="module")
def history():
    return simulate_history(days=40, seed=5, customers=120, merchants=20)


def stream_vectors(history) -> dict[str, dict[str, float]]:
    """Every transaction's vector from the stream's feature step, labels interleaved at the
    time they became known (labels first at equal times)."""
    events, labels = history.transaction_events(), history.label_events()
    merged = sorted([(e.occurred_at, 1, i, e) for i, e in enumerate(events)]
                    + [(lab.occurred_at, 0, i, lab) for i, lab in enumerate(labels)],
                    key=lambda x: x[:3])
    records = [RawRecord(item.model_dump_json().encode(), offset=n)
               for n, (*_, item) in enumerate(merged)]
    online = InMemoryFeatures()
    out: dict[str, dict[str, float]] = {}
    for start in range(0, len(records), 500):
        batch = online.run(records[start:start + 500])
        assert not batch.dead_letters
        for ev, vector in zip(batch.events, batch.vectors, strict=True):
            out[ev.transaction_id] = vector
    return out


def test_canonical_labels_give_the_streams_values(history):
    labels = history.labels
    assert set(labels.columns) == {"transaction_id", "is_fraud", "pattern", "labelled_at",
                                   "source"}
    offline = build_features(history.events, labels)
    online = stream_vectors(history)
    assert len(online) == offline.height == history.events.height
    bad = []
    for row in offline.select("transaction_id", *STATEFUL).iter_rows(named=True):
        got = online[row["transaction_id"]]
        for name in STATEFUL:
            a, b = got[name], row[name]
            if not ((math.isnan(a) and math.isnan(b))
                    or abs(a - b) <= 1e-9 * max(1.0, abs(a))):
                bad.append(f"{row['transaction_id']} {name}: online {a!r} offline {b!r}")
    assert not bad, "\n".join(bad[:20])
    # the labels reached merchants, devices and payees: the comparison has teeth
    for entity in ("merchant", "device", "counterparty"):
        rates = [f.name for f in FEATURES if f.aggregation == "fraud_rate" and f.entity == entity]
        assert sum(offline[name].fill_nan(0).gt(0).sum() for name in rates) > 30, entity
    assert offline[RATE].fill_nan(0).gt(0).sum() > 100
    # the label events' shape gives the very same frame
    assert offline.equals(build_features(history.events, history.feature_labels()))


def test_without_labels_the_fraud_rate_is_zero_and_a_warning_says_so(history, caplog):
    with caplog.at_level(logging.WARNING, logger="features.offline.builder"):
        unlabelled = build_features(history.events)
    assert any(RATE in r.getMessage() for r in caplog.records)
    rate = unlabelled[RATE].fill_nan(None).drop_nulls()
    assert rate.len() > 0 and (rate == 0).all()  # what the stream says before any label
    caplog.clear()
    empty = history.labels.clear()
    with caplog.at_level(logging.WARNING, logger="features.offline.builder"):
        assert build_features(history.events, empty).equals(unlabelled)
    assert not caplog.records  # an empty frame: "no label known", said on purpose


def test_labels_of_unknown_transactions_are_dropped_with_a_warning(history, caplog):
    labels = history.labels
    t = labels["labelled_at"].min()
    stray = pl.DataFrame({"transaction_id": ["nowhere"], "is_fraud": [True],
                          "labelled_at": [t]}).cast({"labelled_at": labels.schema["labelled_at"]})
    with caplog.at_level(logging.WARNING, logger="features.offline.labels"):
        with_stray = build_features(history.events,
                                    pl.concat([labels, stray], how="diagonal_relaxed"))
    assert "1 of" in caplog.text and "not among the events" in caplog.text
    assert with_stray.equals(build_features(history.events, labels))


def test_labels_of_another_shape_or_naive_times_are_refused(history):
    with pytest.raises(ValueError, match="missing canonical column.*labelled_at"):
        build_features(history.events, history.labels.drop("labelled_at"))
    naive = history.labels.with_columns(pl.col("labelled_at").dt.replace_time_zone(None))
    with pytest.raises(ValueError, match="timezone-aware"):
        build_features(history.events, naive)


def test_a_label_counts_only_once_known_and_seven_days_after_its_transaction(history):
    """A relabel to not-fraud after the fact removes the fraud from later events' rate."""
    labels = history.labels.filter("is_fraud")
    base = build_features(history.events, labels)[RATE].fill_nan(0).sum()
    cleared = labels.with_columns(
        pl.col("labelled_at") + timedelta(seconds=1), pl.lit(False).alias("is_fraud"))
    relabelled = build_features(history.events, pl.concat([labels, cleared]))
    assert relabelled[RATE].fill_nan(0).sum() < base
