"""The outbox relay: publishes accepted events, and re-publishes any that may have been lost.

Runs as a task of the API process. Each turn:

1. **publish** — up to ``outbox_batch`` accepted rows, in acceptance order, keyed by account;
   each is marked ``published`` with its partition and offset once the broker acknowledged it
   (a failed send leaves the row ``accepted``: it is tried again next turn);
2. **reconcile** (every ``outbox_reconcile_seconds``):

   a. rows whose lake row exists are marked ``processed``;
   b. *broker loss*: when the relay starts, after any error talking to the broker, and
      whenever a partition's end offset goes down (the embedded broker keeps topics in
      memory: a restart empties them), every unfinished published row is queued again;
   c. *stuck*: a row the worker's consumer group committed past, still without a lake row
      ``outbox_stuck_seconds`` later, was lost inside the worker (e.g. a join whose part never
      came back); it is queued again, logged and counted (``recomputed``).

Re-publishing is safe because every effect is idempotent by ``transaction_id``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError

from core.db import make_engine
from core.settings import Settings
from streams.outbox.customers import processed_customers
from streams.outbox.store import InFlight, Outbox
from streams.sink import label_index, lake_index
from streams.topics import ensure_topics_async

log = logging.getLogger(__name__)


class Relay:
    def __init__(self, settings: Settings, outbox: Outbox) -> None:
        self.settings = settings
        self.outbox = outbox
        self._lake_db: Engine = make_engine(settings.database_url)
        self._wake = asyncio.Event()
        self._ends: dict[int, int] | None = None  # None until the first reconcile
        self._passed_since: dict[str, float] = {}
        self._last_reconcile = 0.0
        self.counters = {"published": 0, "republished_broker_loss": 0, "recomputed": 0,
                         "processed": 0, "publish_failures": 0}
        self.lag: dict[int, int] = {}
        self.backlog = 0  # accepted, not yet processed
        self.oldest_unprocessed: datetime | None = None
        self.last_error: str | None = None
        self._consumer: AIOKafkaConsumer | None = None

    def wake(self) -> None:
        """Publish now (called after the API stored new events)."""
        self._wake.set()

    async def run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.broker, acks="all",
                                    linger_ms=2,
                                    enable_idempotence=self.settings.producer_idempotence)
        await producer.start()
        try:
            while True:  # before the first publish: what an earlier run left in flight
                try:
                    await self._reconcile()
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                    log.warning("outbox relay: %s; retrying", self.last_error)
                    await asyncio.sleep(1.0)
            self._last_reconcile = time.monotonic()
            while True:
                try:
                    if self._ends is None:  # after an error: re-queue what may be lost first,
                        await self._reconcile()  # so events go out in acceptance order
                        self._last_reconcile = time.monotonic()
                    published = await self._publish(producer)
                    if time.monotonic() - self._last_reconcile >= \
                            self.settings.outbox_reconcile_seconds:
                        await self._reconcile()
                        self._last_reconcile = time.monotonic()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                    log.warning("outbox relay: %s; retrying", self.last_error)
                    self._ends = None  # the broker may have lost data: re-check everything
                    await asyncio.sleep(1.0)
                    continue
                if not published:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(),
                                               self.settings.outbox_reconcile_seconds)
                    except TimeoutError:
                        pass
        finally:
            await producer.stop()
            if self._consumer is not None:
                await self._consumer.stop()

    async def _publish(self, producer: AIOKafkaProducer) -> int:
        rows = await run_in_threadpool(self.outbox.to_publish, self.settings.outbox_batch)
        if not rows:
            return 0
        topic = self.settings.topic_transactions
        futures = [await producer.send(topic, r.payload, key=r.key) for r in rows]
        results = await asyncio.gather(*futures, return_exceptions=True)
        acks = [(r.transaction_id, md.partition, md.offset)
                for r, md in zip(rows, results, strict=True) if not isinstance(md, BaseException)]
        failed = len(rows) - len(acks)
        await run_in_threadpool(self.outbox.mark_published, acks)
        self.counters["published"] += len(acks)
        if failed:
            self.counters["publish_failures"] += failed
            raise RuntimeError(f"{failed} of {len(rows)} sends not acknowledged")
        return len(acks)

    async def _reconcile(self) -> None:
        in_flight = await run_in_threadpool(self.outbox.in_flight)
        done = await run_in_threadpool(self._processed, [r.transaction_id for r in in_flight])
        if done:
            self.counters["processed"] += await run_in_threadpool(self.outbox.mark_processed,
                                                                  done)
            in_flight = [r for r in in_flight if r.transaction_id not in done]
            for tid in done:
                self._passed_since.pop(tid, None)
        ends, committed = await self._offsets()
        lost = self._lost_by_broker(in_flight, ends)
        stuck = self._stuck(in_flight, committed, lost)
        if lost:
            await self._requeue(lost, "republished_broker_loss")
            log.warning("outbox: %d published events may have been lost by the broker; "
                        "publishing them again", len(lost))
        if stuck:
            await self._requeue(stuck, "recomputed")
            log.warning("outbox: %d events consumed by the worker but unfinished after %.0f s "
                        "(e.g. %s); publishing them again", len(stuck),
                        self.settings.outbox_stuck_seconds, ", ".join(sorted(stuck)[:5]))
        self.lag = {p: max(0, end - committed.get(p, 0)) for p, end in ends.items()}
        self.backlog = await run_in_threadpool(self.outbox.unprocessed)
        self.oldest_unprocessed = await run_in_threadpool(self.outbox.oldest_unprocessed)

    def _lost_by_broker(self, in_flight: list[InFlight], ends: dict[int, int]) -> set[str]:
        """Everything unfinished, after a (re)start, a broker error or shrinking end offsets.

        Comparing a record's offset with its partition's end offset would be finer, but the
        embedded broker reports the end of a multi-record batch as its first offset + 1."""
        previous, self._ends = self._ends, ends
        if previous is None or any(ends.get(p, 0) < end for p, end in previous.items()):
            return {r.transaction_id for r in in_flight}
        return set()

    def _stuck(self, in_flight: list[InFlight], committed: dict[int, int],
               lost: set[str]) -> set[str]:
        now = time.monotonic()
        stuck = set()
        for r in in_flight:
            if r.transaction_id in lost or r.offset >= committed.get(r.partition, -1):
                continue
            since = self._passed_since.setdefault(r.transaction_id, now)
            if now - since >= self.settings.outbox_stuck_seconds:
                stuck.add(r.transaction_id)
        return stuck

    async def _requeue(self, ids: set[str], counter: str) -> None:
        self.counters[counter] += await run_in_threadpool(self.outbox.requeue, ids)
        for tid in ids:
            self._passed_since.pop(tid, None)
        await ensure_topics_async(self.settings)
        self._wake.set()

    def _processed(self, ids: Iterable[str]) -> set[str]:
        ids = list(ids)
        done: set[str] = set()
        try:
            with self._lake_db.connect() as conn:
                for start in range(0, len(ids), 500):
                    chunk = ids[start:start + 500]
                    for index in (lake_index, label_index):  # a transaction's row, a label's
                        done.update(conn.execute(
                            select(index.c.transaction_id)
                            .where(index.c.transaction_id.in_(chunk))).scalars())
        except DBAPIError:  # no lake yet (the worker creates its index on its first batch)
            done = set()
        return done | processed_customers(self._lake_db, ids)  # a stored customer profile

    async def _offsets(self) -> tuple[dict[int, int], dict[int, int]]:
        """End offsets of the transactions topic, and the worker group's committed offsets.

        A consumer of the worker's group id that never subscribes: it reads the group's
        offsets (OffsetFetch) without joining the group. (The admin API's group-offsets call
        is not understood by the embedded broker.)"""
        topic = self.settings.topic_transactions
        if self._consumer is None:
            consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.broker,
                                        group_id=self.settings.app_id, enable_auto_commit=False)
            await consumer.start()
            self._consumer = consumer
        consumer = self._consumer
        try:
            await consumer._client.force_metadata_update()
            tps = [TopicPartition(topic, p)
                   for p in sorted(consumer.partitions_for_topic(topic) or ())]
            ends = {tp.partition: off for tp, off in (await consumer.end_offsets(tps)).items()}
            committed = {}
            for tp in tps:
                offset = await consumer.committed(tp)
                if offset is not None and offset >= 0:
                    committed[tp.partition] = offset
        except Exception:
            self._consumer = None
            await consumer.stop()
            raise
        return ends, committed

    def stats(self) -> dict[str, Any]:
        oldest = self.oldest_unprocessed
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        return {"backlog": self.backlog, "oldest_unprocessed_age_seconds": round(age, 3),
                "lag_per_partition": {str(p): n for p, n in sorted(self.lag.items())},
                "lag": sum(self.lag.values()), **self.counters, "last_error": self.last_error}
