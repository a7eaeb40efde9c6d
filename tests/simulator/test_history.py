"""simulate_history: determinism, the frame contract, rates, rhythm and currencies."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from core.frames import EVENT_SCHEMA
from features import events_frame
from simulator import PATTERNS, simulate_history
from simulator.geography import UTC_OFFSET_HOURS

from .conftest import END


def test_same_seed_same_history_other_seed_other_history():
    a = simulate_history(days=3, seed=5, customers=200, merchants=30)
    assert a == simulate_history(days=3, seed=5, customers=200, merchants=30)
    b = simulate_history(days=3, seed=6, customers=200, merchants=30)
    assert a != b
    assert a.events.height != b.events.height or not a.events["amount_minor"].equals(
        b.events["amount_minor"])


def test_events_are_the_canonical_frame_plus_truth(history):
    ev = history.events
    assert ev.schema == pl.Schema({**EVENT_SCHEMA, "is_fraud": pl.Boolean(),
                                   "pattern": pl.String()})
    assert ev["occurred_at"].is_sorted()
    assert ev["transaction_id"].n_unique() == ev.height
    assert ev["occurred_at"].min() >= END - timedelta(days=21)
    assert ev["occurred_at"].max() < END
    assert (ev["is_fraud"] == ev["pattern"].is_not_null()).all()
    assert history.labels.schema["labelled_at"] == pl.Datetime("us", "UTC")


def test_every_event_validates_against_the_contract(history):
    sample = history.events.filter(pl.col("account_id").str.ends_with("7"))  # ~10 %, all kinds
    small = type(history)(sample, history.labels.clear())
    events = small.transaction_events()
    assert len(events) == sample.height > 1000
    assert events_frame(events).equals(sample.drop("is_fraud", "pattern"))
    original = {e.original_transaction_id for e in events if e.original_transaction_id}
    assert original <= set(history.events["transaction_id"])


def test_every_typology_appears_at_a_sensible_rate(history):
    ev = history.events
    assert set(ev["pattern"].drop_nulls().unique()) == set(PATTERNS)
    assert 0.005 < ev["is_fraud"].mean() < 0.05
    assert ev["event_type"].n_unique() >= 9  # every kind of money movement, chargebacks too


def test_rates_scale_the_suspicious_share():
    low = simulate_history(days=7, seed=2, customers=400, fraud_rate=0.005, aml_rate=0.002)
    high = simulate_history(days=7, seed=2, customers=400, fraud_rate=0.04, aml_rate=0.02)
    assert high.events["is_fraud"].mean() > 3 * low.events["is_fraud"].mean()
    none = simulate_history(days=2, seed=2, customers=100, fraud_rate=0.0, aml_rate=0.0)
    assert not none.events["is_fraud"].any()


def test_nights_are_quiet_in_local_time(history):
    legit = history.events.filter(~pl.col("is_fraud"), pl.col("channel") != "api")
    offsets = legit["country"].replace_strict(UTC_OFFSET_HOURS, default=0.0).to_numpy()
    hours = (legit["occurred_at"].dt.hour().to_numpy() + np.rint(offsets).astype(int)) % 24
    per_hour = np.bincount(hours, minlength=24)
    assert per_hour[1:5].sum() * 10 < per_hour[17:21].sum()


def test_several_currencies_conversions_and_foreign_spending(history):
    ev = history.events
    assert ev["currency"].n_unique() >= 4
    fx = ev.filter(event_type="fx_conversion")
    assert fx.height > 0 and (fx["target_currency"] != fx["currency"]).all()
    assert (fx["target_amount_minor"] > 0).all()
    homes = ev.group_by("account_id").agg(home=pl.col("country").mode().first())
    abroad = ev.join(homes, on="account_id").filter(~pl.col("is_fraud"),
                                                   pl.col("country") != pl.col("home"))
    assert abroad.height > 0.02 * ev.height


def test_two_phase_card_payments_capture_their_authorization(history):
    ev = history.events
    captures = ev.filter(pl.col("event_type").is_in(["card_capture", "card_void"]),
                         pl.col("original_transaction_id").is_not_null())
    auths = ev.filter(event_type="card_authorization").select(
        "transaction_id", "account_id", "amount_minor", auth_at="occurred_at")
    joined = captures.join(auths, left_on="original_transaction_id", right_on="transaction_id",
                           suffix="_auth")
    assert captures.height > 100 and joined.height == captures.height
    assert (joined["occurred_at"] > joined["auth_at"]).all()
    assert (joined["account_id"] == joined["account_id_auth"]).all()


def test_naive_end_is_refused():
    with pytest.raises(ValueError, match="timezone"):
        simulate_history(days=1, end=datetime(2026, 1, 1))  # noqa: DTZ001


def test_default_end_is_fixed():
    h = simulate_history(days=1, seed=3, customers=50, merchants=10)
    assert h.events["occurred_at"].max() < datetime(2026, 11, 1, tzinfo=UTC)
