from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from features import (
    FEATURE_NAMES,
    InMemoryWindowStore,
    WindowFeatureComputer,
    build_features,
    events_frame,
    registry,
    with_event_features,
)
from flowlet.contract import TransactionEvent
from models.simulator import Simulator

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def ev(tid: str, minutes: float, amount: int, account: str = "a", currency: str = "EUR"):
    return TransactionEvent.model_validate({
        "transaction_id": tid, "event_type": "top_up", "occurred_at": T0 + timedelta(
            minutes=minutes), "amount_minor": amount, "currency": currency,
        "account_id": account, "country": "DE", "channel": "web"})


def test_hand_computed_windows():
    events = [ev("1", 0, 100), ev("2", 30, 250), ev("3", 59, 50, currency="USD"),
              ev("4", 61, 1000), ev("5", 5, 7, account="b")]
    feats = build_features(events_frame(events)).sort("transaction_id")
    # Buckets: 1 h [10:00, 11:00) holds 1, 2, 3; 4 falls in [11:00, 12:00).
    assert feats["acct_tx_count_1h"].to_list() == [1.0, 2.0, 3.0, 1.0, 1.0]
    assert feats["acct_amount_sum_1h"].to_list() == [100.0, 350.0, 50.0, 1000.0, 7.0]
    assert feats["acct_tx_count_24h"].to_list() == [1.0, 2.0, 3.0, 4.0, 1.0]
    assert feats["acct_amount_sum_24h"].to_list() == [100.0, 350.0, 50.0, 1350.0, 7.0]
    assert feats["amount_log10"][0] == pytest.approx(2.00432137, abs=1e-8)  # log10(101)
    assert feats["hour_of_day_utc"].to_list()[:4] == [10.0, 10.0, 10.0, 11.0]


def test_online_and_offline_agree_on_simulated_history():
    txs = Simulator(seed=4, n_accounts=60, n_merchants=10).generate(
        5000, T0, T0 + timedelta(days=3))
    events = [t.event for t in txs]
    offline = build_features(events_frame(events))
    computer = WindowFeatureComputer(InMemoryWindowStore())
    online_windows = pl.DataFrame([computer.update(e) for e in events])
    online = pl.concat([with_event_features(events_frame(events)), online_windows],
                       how="horizontal")
    cols = ["transaction_id", *FEATURE_NAMES]
    left = offline.select(cols).sort("transaction_id")
    right = online.select(cols).sort("transaction_id")
    for name in FEATURE_NAMES:
        diff = (left[name] - right[name]).abs().max()
        assert diff is not None and diff <= 1e-9, name


def test_duplicates_do_not_count_twice_offline():
    events = [ev("1", 0, 100), ev("1", 0, 100), ev("2", 1, 100)]
    feats = build_features(events_frame(events))
    assert feats.height == 2
    assert feats["acct_tx_count_1h"].to_list() == [1.0, 2.0]


def test_registry_lists_every_feature_with_a_description():
    rows = registry()
    assert [r["name"] for r in rows] == list(FEATURE_NAMES)
    assert all(r["description"] for r in rows)
