"""Live continues the history: the same world, drawn at the rate its rhythm sets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simulator import Simulator
from simulator.pacing import Pace, intensity

START = datetime(2026, 3, 2, 6, tzinfo=UTC)  # a Monday
END = START + timedelta(hours=12)


def _sim(tag: str) -> Simulator:
    return Simulator(seed=3, n_accounts=3_000, n_merchants=400, fraud_share=0.015,
                     run_tag=tag)


def _without_ids(txs: list) -> list:  # type: ignore[type-arg]
    return [(t.event.model_dump(exclude={"transaction_id", "original_transaction_id"}),
             t.is_fraud, t.pattern) for t in txs]


def test_live_goes_on_from_the_worlds_past():
    """The stack materialises the past (``history``); the live simulator draws it again
    (``skip``) and continues: the same accounts and merchants, time going on, new ids."""
    pace = Pace(_sim("stack"), rate=0.2)
    past = [t for window in pace.history(START, END) for t in window]
    after = pace.window(END, END + timedelta(hours=2))

    live = Pace(_sim("live"), rate=0.2)
    assert live.skip(START, END) == len(past) > 1_000
    continued = live.window(END, END + timedelta(hours=2))
    # event for event what the history's own simulator would have drawn next: cases under
    # way, balances and the rhythm carry over; only the run tag in the ids differs
    assert _without_ids(continued) == _without_ids(after)
    assert all(START <= t.event.occurred_at < END for t in past)
    assert all(END <= t.event.occurred_at < END + timedelta(hours=2) for t in continued)
    assert not {t.event.transaction_id for t in past} & {
        t.event.transaction_id for t in continued}
    world = set(_sim("x").world.customers.ids)
    accounts = {t.event.account_id for t in continued}
    assert accounts <= world | {t.event.account_id for t in past}
    assert len(accounts & {t.event.account_id for t in past}) > 50  # one population
    merchants = {t.event.merchant_id for t in continued if t.event.merchant_id}
    assert len(merchants & {t.event.merchant_id for t in past if t.event.merchant_id}) > 20


def test_the_rate_follows_the_worlds_rhythm():
    sim = _sim("r")
    hours = [intensity(sim, START + timedelta(hours=h), START + timedelta(hours=h + 1))
             for h in range(7 * 24)]
    assert sum(hours) / len(hours) == pytest.approx(1.0, rel=1e-6)  # rate = the weekly mean
    night = START - timedelta(hours=4)  # 02:00 UTC
    evening = START + timedelta(hours=12)  # 18:00 UTC
    pace = Pace(sim, rate=0.5)
    quiet = len(pace.window(night, night + timedelta(hours=1)))
    busy = len(pace.window(evening, evening + timedelta(hours=1)))
    assert quiet < 0.5 * 1800 < busy  # the mean rate would give 1,800 in an hour
    assert quiet == int(1800 * intensity(sim, night, night + timedelta(hours=1)))
