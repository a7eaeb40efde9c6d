"""The feature state catches up with the lake: rebuilt whole when lost, its tail replayed after a
crash between the lake write and the state commit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from core.settings import Settings
from features.online import expire
from simulator import Simulator
from streams.app import state_store
from streams.pipeline import BatchOutcome, RawRecord
from streams.recovery import WATERMARK, catch_up, watermark_of
from streams.testing import InMemoryFeatures, in_memory_processor


def _without_marks(states: dict) -> dict:
    # Applied marks carry processing times, which differ between the runs by design.
    return {key: {k: v for k, v in state.items() if k != "applied"}
            for key, state in states.items()}


def _history(n: int) -> list:  # type: ignore[type-arg]
    end = datetime(2026, 6, 1, tzinfo=UTC)
    events = [t.event for t in Simulator(seed=8, n_accounts=60, n_merchants=12).generate(
        n, end - timedelta(days=10), end)]
    return sorted(events, key=lambda e: e.occurred_at)


def _stream(settings: Settings, events: list) -> tuple[InMemoryFeatures, list]:  # type: ignore[type-arg]
    """Events through features and effects in batches of 250, as the worker runs them."""
    processor = in_memory_processor(settings)
    features = InMemoryFeatures()
    records = [RawRecord(e.model_dump_json().encode(), partition=0, offset=i)
               for i, e in enumerate(events)]
    outcome, batches = BatchOutcome(), []
    for start in range(0, len(records), 250):
        out = processor.commit(features.run(records[start:start + 250]))
        outcome.add(out)
        batches.append(out.rows)
    assert outcome.lake_rows == len(events)
    return features, batches


def test_a_lost_state_is_rebuilt_from_the_lake_equal_to_the_streams(tmp_path):
    settings = Settings(data_dir=tmp_path)
    events = _history(1_500)
    features, _ = _stream(settings, events)

    store = state_store(settings)
    assert catch_up(settings, store) == len(events)

    rebuilt = store.read(features.states)
    # Compared through a JSON round trip (a tuple and a list of the same items are one
    # value); what the store writes is tidied (beyond every window), as the worker's commits.
    expected = json.loads(json.dumps(_without_marks(features.states)))
    for state in expected.values():
        expire(state)
    assert json.loads(json.dumps(_without_marks(rebuilt))) == expected
    marked = {m.split(":", 1)[1] for state in rebuilt.values()
              for m in state.get("applied", {})}
    assert marked == {e.transaction_id for e in events}  # a re-published copy is a redelivery
    assert catch_up(settings, state_store(settings)) == 0  # nothing new since


def test_only_the_lake_rows_after_the_watermark_are_replayed(tmp_path):
    settings = Settings(data_dir=tmp_path)
    events = _history(1_000)
    first, second = events[:750], events[750:]
    _stream(settings, first)
    store = state_store(settings)
    assert catch_up(settings, store) == 750
    # A worker wrote the next batches' lake rows and crashed before committing their state.
    _, batches = _stream(settings.with_(data_dir=tmp_path / "other"), second)
    other = in_memory_processor(settings).sink
    for rows in batches:
        other.write(rows)
    assert catch_up(settings, store) == len(second)
    # the last replayed batch's processing time (DuckDB's epoch() and Python's timestamp()
    # may differ in the last bit of a double)
    assert abs(float(_meta(settings)) - float(watermark_of(batches[-1]))) < 1e-5


def test_an_empty_lake_replays_nothing(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert catch_up(settings, state_store(settings)) == 0


def _meta(settings: Settings) -> str:
    from streams.state import read_meta

    value = read_meta(state_store(settings).engine, WATERMARK)
    assert value is not None
    return value


def test_lake_rows_with_a_country_the_contract_now_refuses_do_not_stop_a_replay(tmp_path, caplog):
    # Rows accepted before the contract refused countries without a zone must not stop a
    # worker's start: left out of the replay, counted in a warning.
    settings = Settings(data_dir=tmp_path)
    events = _history(600)
    _, batches = _stream(settings.with_(data_dir=tmp_path / "other"), events)
    sink, refused = in_memory_processor(settings).sink, 0
    for rows in batches:
        for row in rows[::3]:
            row["country"] = "XX"
            refused += 1
        sink.write(rows)
    with caplog.at_level("WARNING", logger="streams.recovery"):
        assert catch_up(settings, state_store(settings)) == len(events) - refused
    assert f"{refused} lake rows carry a country the contract no longer accepts" in caplog.text
