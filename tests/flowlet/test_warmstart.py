"""A fresh stack materialises its simulated world's past once; a restart keeps it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice

from core.settings import Settings
from features.online import state_key
from flowlet.cli import utc_instant
from flowlet.feed import live_events
from flowlet.warmstart import META, live_simulator, warm_start
from streams.app import state_store
from streams.state import read_meta

NOW = datetime(2026, 3, 4, 12, tzinfo=UTC)


def test_a_fresh_state_gets_the_worlds_past_once(tmp_path):
    settings = Settings(data_dir=tmp_path)
    rate = 0.05  # a world of 1,543 accounts
    continuation = warm_start(settings, rate, hours=6, now=NOW)
    assert continuation is not None and continuation.end == NOW
    start, end = continuation.args()[1], continuation.args()[3]
    assert (utc_instant(start), utc_instant(end)) == (continuation.start, NOW)
    store = state_store(settings)
    assert read_meta(store.engine, META) == f"{continuation.start.isoformat()}/{NOW.isoformat()}"
    ids = list(live_simulator(rate).world.customers.ids)
    keys = [state_key("account", a) for a in ids]
    store.begin(keys)
    warm = [k for k in keys if store.lookup(k)]
    store.rollback()
    assert 100 < len(warm) < len(ids)  # six hours: some of the world's accounts acted
    # restarted: the state already holds the world's past, kept as it is
    assert warm_start(settings, rate, hours=6, now=NOW.replace(hour=18)) is None


def test_a_stack_whose_lake_holds_transactions_gets_no_simulated_past(tmp_path):
    settings = Settings(data_dir=tmp_path)
    (settings.lake_dir / "transactions").mkdir(parents=True)
    assert warm_start(settings, 0.05, hours=6, now=NOW) is None
    assert read_meta(state_store(settings).engine, META) is None


def test_the_live_simulator_starts_where_the_history_ended():
    """The minute the stack spent starting is published first, at once: no hole in the
    world's time between the materialised past and live traffic."""
    since = datetime.now(UTC) - timedelta(minutes=3)
    sim = live_simulator(5.0, accounts=2_000)
    first = list(islice(live_events(sim, 5.0, since=since), 30))
    assert since <= first[0].occurred_at < since + timedelta(seconds=10)
    assert first[-1].occurred_at < since + timedelta(minutes=1)
