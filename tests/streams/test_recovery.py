"""Feature states rebuilt from the lake equal the states the stream built while writing it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from core.db import make_engine
from core.settings import Settings
from simulator import Simulator
from streams.pipeline import BatchOutcome, RawRecord
from streams.recovery import (
    ACCOUNT_STORE,
    ENTITY_STORE,
    JOIN_STORE,
    align_with_broker,
    broker_epoch,
    rebuild_states,
)
from streams.state import StateStore
from streams.testing import InMemoryTopology, in_memory_processor


def _without_marks(states: dict) -> dict:
    # Applied marks carry processing times, which differ between the runs by design.
    return {key: {k: v for k, v in state.items() if k != "applied"}
            for key, state in states.items()}


def _history(n: int) -> list:  # type: ignore[type-arg]
    end = datetime(2026, 6, 1, tzinfo=UTC)
    events = [t.event for t in Simulator(seed=8, n_accounts=60, n_merchants=12).generate(
        n, end - timedelta(days=10), end)]
    return sorted(events, key=lambda e: e.occurred_at)


def _process(processor, topology, records) -> None:  # type: ignore[no-untyped-def]
    outcome = BatchOutcome()
    for start in range(0, len(records), 250):
        outcome.add(processor.commit(topology.run(records[start:start + 250])))
    assert outcome.lake_rows == len(records)


def test_states_rebuilt_from_the_lake_equal_the_streams(tmp_path):
    settings = Settings(data_dir=tmp_path)
    events = _history(1_500)
    processor = in_memory_processor(settings)
    topology = InMemoryTopology()
    records = [RawRecord(e.model_dump_json().encode(), offset=i) for i, e in enumerate(events)]
    _process(processor, topology, records)

    rebuilt, replayed = rebuild_states(settings)

    assert replayed == len(events)
    assert set(rebuilt) == set(topology.states)
    # JSON round trip: the stream's tables hold JSON (tuples become lists, NaN stays NaN).
    expected = json.loads(json.dumps(_without_marks(topology.states)))
    assert json.loads(json.dumps(_without_marks(rebuilt))) == expected
    marked = {m.split(":", 1)[1] for state in rebuilt.values()
              for m in state.get("applied", {})}
    assert marked == {e.transaction_id for e in events}  # a re-published copy is a redelivery


def test_an_empty_lake_rebuilds_nothing(tmp_path):
    states, replayed = rebuild_states(Settings(data_dir=tmp_path))
    assert (states, replayed) == ({}, 0)


@pytest.mark.integration
def test_the_stored_state_follows_the_brokers_life(tmp_path, broker):
    settings = Settings(data_dir=tmp_path, broker=broker.bootstrap)
    events = _history(400)
    _process(in_memory_processor(settings), InMemoryTopology(),
             [RawRecord(e.model_dump_json().encode(), offset=i) for i, e in enumerate(events)])
    engine = make_engine(settings.database_url)
    stale = StateStore(engine, JOIN_STORE)
    stale.lookup("tx-lost-with-the-broker")["parts"] = {"account": [1.0]}
    stale.flush()

    assert align_with_broker(settings, engine)  # first start: built from the lake
    epoch = broker_epoch(settings)
    assert epoch is not None
    accounts = StateStore(engine, ACCOUNT_STORE)
    first = events[0]
    assert accounts.lookup(f"account:{first.account_id}")["applied"]
    assert StateStore(engine, ENTITY_STORE).lookup(f"net:{first.account_id}")
    assert StateStore(engine, JOIN_STORE).lookup("tx-lost-with-the-broker") == {}
    assert not align_with_broker(settings, engine)  # same broker life: kept as it is
    assert broker_epoch(settings) == epoch

    broker.stop()
    broker.start()  # a new life: every topic, the epoch with them, is gone
    assert broker_epoch(settings) is None
    assert align_with_broker(settings, engine)
    assert broker_epoch(settings) not in (None, epoch)
