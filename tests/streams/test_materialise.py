"""A materialised past equals what the online engine reaches by processing it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine

from features.online import OnlineFeatures
from simulator import Simulator
from streams import materialise as module
from streams.materialise import materialise
from streams.stages import wire_event
from streams.state import StateStore, read_meta

PROCESSED_AT = 1_790_000_000.0


def _history() -> list:  # type: ignore[type-arg]
    end = datetime(2026, 6, 1, tzinfo=UTC)
    return [t.event for t in Simulator(seed=4, n_accounts=80, n_merchants=15).generate(
        1_200, end - timedelta(days=5), end)]


def test_a_materialised_state_equals_the_online_engines(monkeypatch):
    monkeypatch.setattr(module, "_BATCH", 97)  # batches that split entities' histories
    events = _history()
    online = OnlineFeatures()
    for ev in events:
        online.process(wire_event(ev), PROCESSED_AT)

    store = StateStore(create_engine("sqlite://"))
    assert materialise(store, events, PROCESSED_AT, meta={"simulated_history": "x"}) == 1_200
    assert read_meta(store.engine, "simulated_history") == "x"
    # compared through a JSON round trip: a tuple and a list of the same items are one value
    stored = json.loads(json.dumps(store.read(online.states)))
    assert stored == json.loads(json.dumps(online.states))
    # a second pass finds every transaction marked applied, as a redelivery: nothing changes
    assert materialise(store, events, PROCESSED_AT) == 0


def test_a_state_missing_part_of_the_past_is_told_apart():
    """The comparison above can fail: the same history less its last transaction differs."""
    events = _history()
    online = OnlineFeatures()
    for ev in events:
        online.process(wire_event(ev), PROCESSED_AT)
    store = StateStore(create_engine("sqlite://"))
    materialise(store, events[:-1], PROCESSED_AT)
    stored = json.loads(json.dumps(store.read(online.states)))
    assert stored != json.loads(json.dumps(online.states))
