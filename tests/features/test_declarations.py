"""A new window of a typed aggregation is one declaration: no engine code changes.

A test-local feature set adds windows (and a second label delay) to the declared ones; the
online engine and the offline builder, given that plan, compute them and agree event by event
over the randomised histories of ``test_offline``. The declared features keep their values.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

from features.aggregations import (
    BandCount,
    Count,
    Distinct,
    FirstSeen,
    FraudRate,
    Max,
    Mean,
    PassThrough,
    Sum,
    ZScore,
)
from features.definitions import (
    DAY,
    FEATURES,
    HOUR,
    PLAN,
    US,
    Feature,
    FeaturePlan,
    registry,
    velocity_feature,
)
from features.offline import build_features, replay_order
from features.online import OnlineFeatures
from tests.features.test_offline import histories, large_history

#: One line per new window; a fraud rate also has a delay no declared feature uses, and a
#: distinct count and a first-seen lookback longer than every declared one (their memories
#: must last longer).
EXTRA = (
    velocity_feature("account", "account", "acct", Count(), "3d", 3 * DAY),
    velocity_feature("account", "account", "acct", Max(), "3d", 3 * DAY),
    velocity_feature("card", "account", "card", Sum(), "12h", 12 * HOUR),
    velocity_feature("merchant", "merchant", "merchant", Mean(), "2h", 2 * HOUR),
    Feature("device_fraud_rate_3d_delay2d", "device", "delayed_label", FraudRate(2 * DAY),
            3 * DAY, "Share of the device's transactions in (t−5d, t−2d] labelled fraud",
            "device"),
    Feature("cp_fraud_rate_10d_delay1d", "counterparty", "delayed_label", FraudRate(DAY),
            10 * DAY, "Share of the payee's received transfers in (t−11d, t−1d] labelled fraud",
            "net_in"),
    Feature("device_distinct_accounts_3d", "device", "aml", Distinct("account_id"), 3 * DAY,
            "Distinct accounts on this device over 3d", "device"),
    Feature("cp_distinct_senders_30d", "counterparty", "aml", Distinct("sender"), 30 * DAY,
            "P2P receiver: distinct senders over 30d (longer than the declared memory)",
            "net_in"),
    Feature("acct_distinct_cp_out_1h", "account", "aml", Distinct("counterparty_account_id"),
            HOUR, "Distinct accounts this account sent P2P money to over 1h", "account"),
    Feature("acct_new_merchant_7d", "account", "behaviour", FirstSeen("merchant_id"), 7 * DAY,
            "1 if the account has not paid this merchant in 7 days", "account",
            include_current=False),
    Feature("acct_new_country_200d", "account", "behaviour", FirstSeen("country"), 200 * DAY,
            "1 if the account has not transacted in this country in 200 days", "account",
            include_current=False),
    Feature("acct_structuring_count_3d", "account", "aml", BandCount(), 3 * DAY,
            "Transactions just under the reporting threshold over 3d", "account"),
    Feature("acct_pass_through_7d", "account", "aml", PassThrough(), 7 * DAY,
            "Outflow / inflow of the account in this currency over 7d", "net_own"),
    Feature("cp_pass_through_1h", "counterparty", "aml", PassThrough(), HOUR,
            "P2P receiver: its outflow / inflow in this currency over 1h", "net_in"),
)
EXTENDED = FeaturePlan((*FEATURES, *EXTRA))
NAMES = list(EXTENDED.names)


def parity(events: pl.DataFrame, labels: pl.DataFrame, expire_every: int) -> pl.DataFrame:
    offline = build_features(events, labels, EXTENDED)
    by_id = {r["transaction_id"]: r for r in offline.select("transaction_id", *NAMES)
             .iter_rows(named=True)}
    online = OnlineFeatures(EXTENDED)
    bad: list[str] = []
    for step, (kind, item) in enumerate(replay_order(events, labels)):
        if step % expire_every == expire_every - 1:
            online.expire()
        if kind == "label":
            online.label(item)
            continue
        got, want = online.process(item), by_id[item["transaction_id"]]
        for name in NAMES:
            a, b = got[name], want[name]
            same = (math.isnan(a) and math.isnan(b)) or (
                not math.isnan(b) and abs(a - b) <= 1e-9 * max(1.0, abs(a)))
            if not same and len(bad) < 20:
                bad.append(f"{item['transaction_id']} {name}: online {a!r} offline {b!r}")
    assert not bad, "\n".join(bad)
    return offline


def test_extra_windows_agree_online_and_offline_on_a_larger_history() -> None:
    events, labels = large_history(3000, seed=23)
    offline = parity(events, labels, expire_every=40)
    # the new windows are not copies of declared ones, and the new rates see labels
    assert (offline["acct_count_3d"] != offline["acct_count_24h"]).sum() > 100
    assert (offline["acct_max_3d"] != offline["acct_max_24h"]).sum() > 30
    assert (offline["merchant_mean_2h"] != offline["merchant_mean_1h"]).sum() > 20
    for name in ("device_fraud_rate_3d_delay2d", "cp_fraud_rate_10d_delay1d"):
        assert offline[name].fill_nan(0).gt(0).sum() > 10, name
    assert (offline["cp_distinct_senders_30d"] > offline["cp_distinct_senders_7d"]).sum() > 20
    assert (offline["device_distinct_accounts_3d"]
            != offline["device_distinct_accounts_24h"]).sum() > 20
    assert offline["acct_distinct_cp_out_1h"].fill_nan(0).gt(0).sum() > 20
    assert (offline["acct_new_merchant_7d"] != offline["acct_new_merchant"]).sum() > 20
    assert (offline["acct_new_country_200d"] != offline["acct_new_country"]).sum() > 0
    for short, long in (("acct_pass_through_24h", "acct_pass_through_7d"),
                        ("cp_pass_through_1h", "cp_pass_through_24h")):
        differ = offline[short].fill_nan(-1) != offline[long].fill_nan(-1)
        assert differ.sum() > 5, short
    assert (offline["acct_structuring_count_3d"]
            != offline["acct_structuring_count_24h"]).sum() > 20
    # the declared features keep the values the default plan gives them
    plain = build_features(events, labels)
    assert plain.equals(offline.select(plain.columns))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(histories(grid=True))
def test_extra_windows_agree_on_exact_window_edges(history) -> None:
    events, labels = history
    parity(events, labels, expire_every=2)


def test_the_plan_groups_each_aggregation_with_all_its_windows() -> None:
    merchant = dict(EXTENDED.grouped["merchant", "merchant"])
    assert [tw.name for tw in merchant[Mean()]][-1] == "merchant_mean_2h"
    assert len(merchant[Mean()]) == 5 and len(merchant[FraudRate(7 * DAY)]) == 3
    device = dict(EXTENDED.grouped["device", "device"])
    assert [tw.window_us for tw in device[FraudRate(2 * DAY)]] == [3 * DAY * 1_000_000]
    assert EXTENDED.max_windows["account", "account"][-1] == 3 * DAY * 1_000_000
    assert PLAN.horizon == 37 * DAY * 1_000_000  # the 30-day rate window ending 7 days back
    assert (PLAN.memory_horizon, EXTENDED.memory_horizon) == (7 * DAY * US, 30 * DAY * US)
    assert (PLAN.seen_horizon, EXTENDED.seen_horizon) == (90 * DAY * US, 200 * DAY * US)
    assert PLAN.seen_columns == ("merchant_id", "device_id", "country")
    # every stateful feature is computed from its declaration
    assert sorted(tw.name for tws in PLAN.typed.values() for tw in tws) == sorted(
        f.name for f in FEATURES)


def test_windowed_aggregations_need_a_window_and_windowless_ones_none() -> None:
    f = Feature("acct_count_ever", "account", "velocity", Count(), None, "all of them",
                "account")
    with pytest.raises(ValueError, match="acct_count_ever: Count.. needs a window"):
        FeaturePlan((*FEATURES, f))
    g = Feature("acct_zscore_7d", "account", "behaviour", ZScore(), 7 * DAY, "not windowed",
                "account", include_current=False)
    with pytest.raises(ValueError, match="acct_zscore_7d: ZScore.. needs no window"):
        FeaturePlan((*FEATURES, g))


def test_registry_shows_the_readable_aggregation_names() -> None:
    shown = {row["name"]: row["aggregation"] for row in registry()}
    assert shown["acct_max_7d"] == "max"
    assert shown["merchant_fraud_rate_7d_delay7d"] == "fraud_rate"
    assert shown["acct_new_merchant"] == "first_seen:merchant_id"
    assert np.unique(list(shown.values())).size > 10
