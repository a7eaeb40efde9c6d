import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from core.settings import Settings
from streams.broker import EmbeddedBroker
from streams.topics import ensure_topics_async, topic_specs

pytestmark = pytest.mark.integration


def test_broker_round_trip_and_clean_stop(broker):
    settings = Settings(broker=broker.bootstrap, partitions=3)

    async def scenario() -> list[bytes]:
        await ensure_topics_async(settings)
        await ensure_topics_async(settings)  # idempotent
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all",
                                    enable_idempotence=False)
        await producer.start()
        try:
            for i in range(10):
                await producer.send_and_wait(settings.topic_transactions, f"m{i}".encode(),
                                             key=b"k")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(settings.topic_transactions, group_id="t",
                                    bootstrap_servers=broker.bootstrap,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            got: list[bytes] = []
            while len(got) < 10:
                for recs in (await consumer.getmany(timeout_ms=1000)).values():
                    got += [r.value for r in recs]
            parts = consumer.assignment()
        finally:
            await consumer.stop()
        assert len(parts) == topic_specs(settings)[settings.topic_transactions]
        return got

    assert asyncio.run(scenario()) == [f"m{i}".encode() for i in range(10)]
    broker.stop()
    assert not broker.running


def test_a_taken_port_is_refused(broker):
    with pytest.raises(RuntimeError, match="already in use"):
        EmbeddedBroker(port=broker.port).start()
