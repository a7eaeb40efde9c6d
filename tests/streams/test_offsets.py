"""The offsets layer without a broker: partitions held until seeked, commits after effects.

The end-to-end proof is ``tests/integration/test_worker_restart.py`` (SIGKILL and restart on the
embedded broker); these pin the mechanics it relies on.
"""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from unittest.mock import AsyncMock, MagicMock

import pytest
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
    return SimpleNamespace(message=SimpleNamespace(tp=tp, offset=offset))


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
