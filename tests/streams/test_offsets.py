"""The offsets layer without a broker: partitions held until seeked, commits after effects.

The end-to-end proof is ``tests/integration/test_worker_restart.py`` (SIGKILL and restart on the
embedded broker); these pin the mechanics it relies on.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from types import SimpleNamespace
from unittest.mock import AsyncMock, MagicMock

import pytest
from aiokafka.structs import ConsumerRecord
from faust.transport.consumer import Consumer
from faust.types import TP

from streams.offsets import OffsetsApp, next_offsets

SRC0, SRC1 = TP("src", 0), TP("src", 1)


@pytest.fixture
async def app() -> OffsetsApp:
    app = OffsetsApp("offsets-test", broker="kafka://127.0.0.1:1", store="memory://")
    app.loop = asyncio.get_running_loop()
    source = app.source_topic("src")

    @app.agent(source, name="reader")
    async def reader(stream):  # type: ignore[no-untyped-def]
        async for _ in stream:  # pragma: no cover - never started
            pass

    app.finalize()
    consumer = app.consumer
    consumer._on_partitions_assigned = AsyncMock()  # the app's rebalance work: not under test
    consumer.seek_to_committed = AsyncMock(return_value={SRC0: 5, SRC1: None})
    consumer.assignment = MagicMock(return_value={SRC0, SRC1})
    consumer._commit = AsyncMock(return_value=True)
    app.producer = SimpleNamespace(buffer=SimpleNamespace(size=0, flush=AsyncMock()),
                                   flush=AsyncMock())
    return app


def event(tp: TP, offset: int) -> SimpleNamespace:
    """A consumer message, as far as the offsets layer reads it."""
    return SimpleNamespace(tp=tp, offset=offset)


async def test_stream_partitions_are_fetched_only_after_the_seek_and_the_rebalance_end(app):
    consumer = app.consumer
    changelog = TP("offsets-test-account-state-changelog", 0)
    app.tables._changelogs[changelog.topic] = MagicMock()
    await consumer.on_partitions_assigned({SRC0, SRC1, changelog})
    assert consumer._get_active_partitions() == {changelog}

    # Faust's recovery resumes the stream partitions *before* seeking: they stay held.
    consumer.resume_partitions({SRC0, SRC1})
    assert consumer._get_active_partitions() == {changelog}
    consumer.on_buffer_drop(SRC0)
    assert consumer._get_active_partitions() == {changelog}
    await consumer.perform_seek()
    assert consumer._read_offset[SRC0] == 5
    assert consumer._get_active_partitions() == {changelog}

    app.on_rebalance_end()  # after flow control was resumed (which empties agent buffers)
    assert consumer._get_active_partitions() == {changelog, SRC0, SRC1}


async def test_a_rebalance_ending_unseeked_seeks_before_fetching(app):
    consumer = app.consumer
    await consumer.on_partitions_assigned({SRC0, SRC1})
    consumer.resume_partitions({SRC0, SRC1})
    app.on_rebalance_end()
    assert consumer._get_active_partitions() == set()
    for _ in range(5):
        await asyncio.sleep(0)
    consumer.seek_to_committed.assert_awaited()
    assert consumer._get_active_partitions() == {SRC0, SRC1}


async def test_a_seek_from_an_earlier_assignment_does_not_release(app):
    consumer = app.consumer
    await consumer.on_partitions_assigned({SRC0})
    await consumer.perform_seek()
    await consumer.on_partitions_assigned({SRC0, SRC1})  # rebalance again
    consumer.resume_partitions({SRC0, SRC1})
    consumer.seek_to_committed = AsyncMock(side_effect=asyncio.Event().wait)  # never returns
    app.on_rebalance_end()
    for _ in range(5):
        await asyncio.sleep(0)
    assert consumer._get_active_partitions() == set()


async def test_commit_processed_commits_next_offsets_of_owned_partitions_forwards_only(app):
    consumer = app.consumer
    await consumer.on_partitions_assigned({SRC0, SRC1})
    await consumer.perform_seek()
    assert await app.commit_processed([event(SRC0, 5), event(SRC0, 6), event(SRC1, 0),
                                       event(TP("src", 2), 9)])
    consumer._commit.assert_awaited_once_with({SRC0: 7, SRC1: 1})  # partition 2: not ours
    app.producer.flush.assert_awaited()  # changelog and sends reach the broker first

    consumer._commit.reset_mock()
    assert not await app.commit_processed([event(SRC0, 5)])  # a redelivery: never backwards
    consumer._commit.assert_not_awaited()


async def test_a_failed_commit_is_retried_by_the_next_batch(app):
    consumer = app.consumer
    await consumer.on_partitions_assigned({SRC0})
    consumer._commit = AsyncMock(return_value=False)
    assert not await app.commit_processed([event(SRC0, 5)])
    consumer._commit = AsyncMock(return_value=True)
    assert await app.commit_processed([event(SRC0, 5)])
    consumer._commit.assert_awaited_once_with({SRC0: 6})


async def test_records_never_delivered_are_reported(app, caplog):
    consumer = app.consumer
    await consumer.on_partitions_assigned({SRC0})
    await consumer.perform_seek()  # committed offset 5
    with caplog.at_level(logging.ERROR, logger="streams.offsets"):
        await app.commit_processed([event(SRC0, 5), event(SRC0, 6)])
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        await app.commit_processed([event(SRC0, 9)])
    assert "offsets 7..8 of" in caplog.text


async def test_commit_processed_refuses_topics_faust_acks_or_shared_readers(app):
    app.topics._acking_topics.add("src")
    with pytest.raises(RuntimeError, match="source_topic"):
        await app.commit_processed([event(SRC0, 1)])
    app.topics._acking_topics.discard("src")

    @app.agent(app.source_topic("src"), name="second-reader")
    async def second(stream):  # type: ignore[no-untyped-def]
        async for _ in stream:  # pragma: no cover - never started
            pass

    with pytest.raises(RuntimeError, match="exactly one agent"):
        await app.commit_processed([event(SRC0, 1)])


def test_next_offsets_spans_each_partition():
    assert next_offsets([event(SRC0, 7), event(SRC1, 2), event(SRC0, 3)]) == {
        SRC0: (3, 8), SRC1: (2, 3)}


async def test_the_broker_holds_a_fetch_no_longer_than_the_app_says(app):
    # Pins the Faust internals the override relies on: a consumer thread built by
    # Consumer._new_consumer_thread whose _create_worker_consumer builds the AIOKafkaConsumer,
    # which reads _fetch_max_wait_ms when it starts. A Faust upgrade that moves them fails here.
    app.fetch_max_wait_ms = 7
    thread = app.consumer._new_consumer_thread()
    kafka_consumer = thread._create_worker_consumer(app.transport)
    try:
        assert kafka_consumer._fetch_max_wait_ms == 7
    finally:
        await kafka_consumer.stop()


# -- source records: a batch at a time ---------------------------------------------------------
OTHER = TP("fx", 0)


def record(tp: TP, offset: int) -> ConsumerRecord:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, b"k", b"v%d" % offset, None, 1,
                          2, [])


def fetch(app: OffsetsApp, *records: ConsumerRecord) -> None:
    """The next fetch of the consumer thread returns ``records`` (Faust's getmany goes on)."""
    consumer = app.consumer
    tps = {TP(r.topic, r.partition) for r in records}
    by_tp: dict[TP, list[ConsumerRecord]] = {}
    for r in records:
        by_tp.setdefault(TP(r.topic, r.partition), []).append(r)
    consumer._wait_next_records = AsyncMock(return_value=(by_tp, tps))
    consumer.highwater = MagicMock(return_value=100)


async def drain(app: OffsetsApp) -> list[tuple[TP, object]]:
    return [pair async for pair in app.consumer.getmany(timeout=0)]


async def test_source_records_go_to_their_buffer_and_the_agent_takes_what_is_there(app):
    consumer = app.consumer
    consumer.resume_flow()
    source = app.source_topic("src")  # (re)declared: a new buffer, before any fetch
    fetch(app, record(SRC0, 5), record(OTHER, 1), record(SRC1, 0), record(SRC0, 6))
    passed_on = await drain(app)
    assert [(tp, m.offset) for tp, m in passed_on] == [(OTHER, 1)]  # other topics: as before
    assert consumer._read_offset[SRC0] == 6 and consumer._read_offset[SRC1] == 0
    batch = await app.take_source(source, 2)
    assert [(m.tp, m.offset, m.value) for m in batch] == [(SRC0, 5, b"v5"), (SRC1, 0, b"v0")]
    assert [(m.tp, m.offset) for m in await app.take_source(source, 10)] == [(SRC0, 6)]
    assert any("src" in t.topics for t in app.topics._topics)  # subscribed by the first take

    fetch(app, record(SRC0, 4), record(SRC0, 7))  # 4: below the read offset, read already
    await drain(app)
    assert [m.offset for m in await app.take_source(source, 10)] == [7]


async def test_a_take_waits_for_a_record_then_takes_it_without_lingering(app):
    consumer = app.consumer
    consumer.resume_flow()
    source = app.source_topic("src")
    take = asyncio.ensure_future(app.take_source(source, 2000))
    await asyncio.sleep(0)
    assert not take.done()
    fetch(app, record(SRC0, 5))
    await drain(app)
    assert [m.offset for m in await asyncio.wait_for(take, 1)] == [5]


async def test_a_full_buffer_blocks_the_fetch_until_a_take_or_a_rebalance(app):
    consumer = app.consumer
    consumer._on_partitions_revoked = AsyncMock()  # the app's rebalance work: not under test
    consumer.resume_flow()
    source = app.source_topic("src", buffer_records=2)
    fetch(app, record(SRC0, 5), record(SRC0, 6), record(SRC0, 7), record(SRC0, 8))
    draining = asyncio.ensure_future(drain(app))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not draining.done()  # two buffered, the third waits for room
    assert [m.offset for m in await app.take_source(source, 1)] == [5]
    for _ in range(10):
        await asyncio.sleep(0)
    assert not draining.done()  # the third went in; the fourth waits

    consumer.stop_flow()  # a rebalance starts: the blocked delivery is abandoned
    await asyncio.wait_for(draining, 1)
    assert consumer._read_offset[SRC0] == 7  # 8 was not read: fetched again after the seek
    await consumer.on_partitions_revoked({SRC1})
    assert len(app.__dict__["_source_buffers"]["src"]) == 0  # as Faust clears agent queues


def test_the_faust_internals_of_the_batch_hand_off_are_where_we_hook_in():
    # Faust's fetcher reads records through ``self.getmany`` (an async generator of
    # (tp, message)), and hands each to the conductor under wait_first with suspend_flow; its
    # read offsets are a defaultdict(None). SeekFirstConsumer.getmany relies on all of it: a
    # Faust upgrade that moves any of it fails here, not silently in production.
    drain_source = inspect.getsource(Consumer._drain_messages)
    assert "getmany = self.getmany" in drain_source
    assert "callback(message), self.suspend_flow.wait()" in drain_source
    assert "set_read_offset(tp, offset)" in drain_source
    assert inspect.isasyncgenfunction(Consumer.getmany)
    getmany_source = inspect.getsource(Consumer.getmany)
    assert "self._wait_next_records(timeout)" in getmany_source
    assert "to_message(tp, record)" in getmany_source
    revoke_source = inspect.getsource(Consumer.on_partitions_revoked)
    assert "self._on_partitions_revoked" in revoke_source
