"""Topic names and creation. Topics are created up front so producers never race the worker."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from core.settings import Settings

log = logging.getLogger(__name__)


def topic_specs(settings: Settings) -> dict[str, int]:
    """Topic name -> partitions. Alerts and the DLQ are keyed by account like the source."""
    return {
        settings.topic_transactions: settings.partitions,
        settings.topic_dlq: settings.partitions,
        settings.topic_alerts: settings.partitions,
        settings.topic_fx_rates: 1,  # low volume, and rates must apply in order
    }


async def ensure_topics_async(settings: Settings, retries: int = 20) -> None:
    for attempt in range(retries):
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.broker)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [
                NewTopic(name, num_partitions=n, replication_factor=1)
                for name, n in topic_specs(settings).items()
                if name not in existing
            ]
            if missing:
                try:
                    await admin.create_topics(missing)
                except TopicAlreadyExistsError:
                    pass
                log.info("created topics %s", [t.name for t in missing])
            return
        except Exception as exc:  # broker still starting: retry, then give up loudly
            if attempt == retries - 1:
                raise
            log.debug("topic creation attempt %d failed: %s", attempt, exc)
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


def ensure_topics(settings: Settings) -> None:
    asyncio.run(ensure_topics_async(settings))
