"""Each typology has its signature, case by case, and the shared features tell it from legit."""

import numpy as np
import polars as pl
import pytest

from features import build_features
from simulator.account_takeover import account_takeover
from simulator.card_fraud import card_testing, compromised_card
from simulator.compromised_merchant import compromised_merchant
from simulator.networks import cycle, fan_in_fan_out, pass_through
from simulator.profiles import build_world
from simulator.rhythm import DAY_US, HOUR_US
from simulator.rows import Scene
from simulator.structuring import structuring

MINUTE_US = 60 * 10**6


@pytest.fixture
def scene():
    return Scene(build_world(21, 400, 60), np.random.default_rng(21), 0, 30 * DAY_US)


def per_case(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.filter("is_fraud").group_by("case_id").agg(
        n=pl.len(), span_us=pl.col("occurred_us").max() - pl.col("occurred_us").min(),
        merchants=pl.col("merchant_id").n_unique(), amount_max=pl.col("amount_minor").max(),
        accounts=pl.col("account_id").n_unique())


def test_card_testing_many_tiny_payments_at_many_merchants_in_minutes(scene):
    cases = per_case(card_testing(scene, 12))
    assert cases.height == 12
    assert (cases["n"] >= 6).all() and (cases["amount_max"] < 400).all()
    assert (cases["merchants"] >= 3).all()
    assert (cases["span_us"] < 40 * MINUTE_US).all()


def test_compromised_card_bursts_large_amounts_within_hours(scene):
    rows = compromised_card(scene, 10)
    cases = per_case(rows)
    assert (cases["span_us"] < 6 * HOUR_US).all() and (cases["accounts"] == 1).all()
    people = scene.world.customers
    spend = dict(zip(people.ids.tolist(), people.spend_minor.tolist(), strict=True))
    typical = rows["account_id"].replace_strict(spend).to_numpy()
    assert np.median(rows["amount_minor"].to_numpy() / typical) > 4


def test_compromised_merchant_abuses_cards_seen_at_the_terminal(scene):
    rows = compromised_merchant(scene, 3)
    visits, abuse = rows.filter(~pl.col("is_fraud")), rows.filter("is_fraud")
    assert set(abuse["card_token"]) <= set(visits["card_token"])
    first_visit = visits.group_by("card_token").agg(pl.col("occurred_us").min().alias("seen"))
    later = abuse.join(first_visit, on="card_token")
    assert (later["occurred_us"] > later["seen"]).all()
    terminals = visits.select("case_id", terminal="merchant_id").unique()
    at_terminal = abuse.join(terminals, on="case_id").filter(
        pl.col("merchant_id") == pl.col("terminal"))
    assert at_terminal.height > 0 and (at_terminal["channel"] == "ecommerce").all()


def test_account_takeover_new_device_and_country_then_mule_cash_out(scene):
    rows = account_takeover(scene, 8)
    people = scene.world.customers
    home = dict(zip(people.ids.tolist(), people.country.tolist(), strict=True))
    transfers = rows.filter(event_type="p2p_transfer")
    assert not transfers["device_id"].is_in(people.devices.ravel().tolist()).any()
    assert (transfers["country"] != transfers["account_id"].replace_strict(home)).all()
    mules = set(transfers["counterparty_account_id"])
    cash = rows.filter(event_type="withdrawal")
    assert set(cash["account_id"]) <= mules
    for _, case in rows.group_by("case_id"):
        sent = case.filter(event_type="p2p_transfer")
        out = case.filter(event_type="withdrawal")
        assert out["occurred_us"].min() > sent["occurred_us"].max()
        assert out["amount_minor"].sum() <= sent["amount_minor"].sum()


def test_structuring_stays_just_under_the_threshold(scene):
    rows = structuring(scene, 6)
    assert rows["amount_minor"].is_between(900_000, 999_999).all()
    assert (rows["currency"] == "EUR").all()
    deposits = per_case(rows.filter(event_type="top_up"))
    assert (deposits["n"] >= 4).all() and (deposits["accounts"] == 1).all()


def test_fan_in_then_fast_fan_out(scene):
    rows = fan_in_fan_out(scene, 5)
    for _, case in rows.group_by("case_id"):
        mule = case["counterparty_account_id"].mode()[0]
        inflow = case.filter(counterparty_account_id=mule)
        outflow = case.filter(account_id=mule)
        assert inflow["account_id"].n_unique() >= 4
        assert outflow.height >= 3
        gap = outflow["occurred_us"].min() - inflow["occurred_us"].max()
        assert 0 < gap < 6 * HOUR_US
        ratio = outflow["amount_minor"].sum() / inflow["amount_minor"].sum()
        assert 0.85 < ratio <= 1.0


def test_pass_through_passes_on_nearly_the_same_amount_within_hours(scene):
    rows = pass_through(scene, 6).sort("occurred_us")
    for _, case in rows.group_by("case_id"):
        actor = case["counterparty_account_id"].drop_nulls().mode()[0]
        received = case.filter(counterparty_account_id=actor)["amount_minor"].sum()
        sent = case.filter(account_id=actor)["amount_minor"].sum()
        assert 0.94 < sent / received <= 1.0


def test_cycle_returns_to_its_origin(scene):
    rows = cycle(scene, 6)
    for _, case in rows.group_by("case_id"):
        hops = case.sort("occurred_us")
        payer, payee = hops["account_id"].to_list(), hops["counterparty_account_id"].to_list()
        assert payee[-1] == payer[0]
        assert all(payee[i] == payer[i + 1] for i in range(len(hops) - 1))
        assert 3 <= len(set(payer)) <= 5
        assert hops["amount_minor"].is_sorted(descending=True)


@pytest.fixture(scope="module")
def features(history):
    return build_features(history.events, history.feature_labels())


def separation(suspicious: np.ndarray, legit: np.ndarray) -> float:
    """P(a suspicious value > a legitimate one), ties counting half (ROC AUC); NaNs ignored."""
    suspicious, legit = suspicious[~np.isnan(suspicious)], np.sort(legit[~np.isnan(legit)])
    below = np.searchsorted(legit, suspicious, "left")
    ties = np.searchsorted(legit, suspicious, "right") - below
    return float(np.mean((below + 0.5 * ties) / len(legit)))


@pytest.mark.parametrize(("pattern", "feature"), [
    ("card_testing", "card_count_1h"),
    ("card_testing", "acct_new_merchant"),
    ("card_testing", "device_distinct_accounts_24h"),
    ("compromised_card", "card_sum_1h"),
    ("compromised_card", "acct_new_merchant"),
    ("account_takeover", "acct_local_night"),
    ("compromised_merchant", "acct_new_country"),
    ("structuring", "acct_structuring_count_24h"),
    ("fan_in_fan_out", "cp_distinct_senders_24h"),
    ("fan_in_fan_out", "acct_distinct_cp_out_24h"),
    ("pass_through", "acct_pass_through_24h"),
    ("cycle", "acct_pass_through_24h"),
])
def test_the_shared_features_separate_each_typology_from_legit(features, pattern, feature):
    values = features.select(pl.col("pattern"), pl.col(feature).cast(pl.Float64))
    suspicious = values.filter(pl.col("pattern") == pattern)[feature].to_numpy()
    legit = values.filter(pl.col("pattern").is_null())[feature].to_numpy()
    assert separation(suspicious, legit) > 0.7


def test_card_testing_amounts_are_smaller_than_legit(features):
    amounts = features.select("pattern", "amount_log10")
    tests = amounts.filter(pattern="card_testing")["amount_log10"].to_numpy()
    legit = amounts.filter(pl.col("pattern").is_null())["amount_log10"].to_numpy()
    assert separation(tests, legit) < 0.1
