"""The Faust worker: transactions → account features → entity features → join → effects.

Three agents (see ``streams.stages`` for what each computes):

* ``flowlet-features`` on ``transactions`` (key = account): parse, dead-letter, account-
  partitioned features, fan-out of stage records re-keyed by entity;
* ``flowlet-entity-features`` on ``features.stages``: merchant, device and network-node
  features, state keyed by entity;
* ``flowlet-pipeline`` on ``features.parts``: joins a transaction's parts and runs the effects
  (ledger, score, lake, alerts) for complete ones, one database transaction per micro-batch.

Each agent consumes micro-batches with ``stream.take_events(n, within=…)``; its state is a
:class:`streams.state.StateStore` in the database, read and written once per key per batch.
A batch's offsets are committed (by the agent: ``streams.offsets``) only after its sends were
acked by the broker, its state was stored and its effects are done: at-least-once, with
idempotent stages and effects.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust

from core.db import make_engine
from core.settings import Settings
from features.online import expire
from ledger import Ledger
from streams.offsets import OffsetsApp, next_offsets
from streams.pipeline import BatchProcessor, FxRate, PreparedBatch, RawRecord, encode_alert
from streams.recovery import ACCOUNT_STORE, ENTITY_STORE, JOIN_STORE
from streams.sink import LakeSink
from streams.stages import account_stage, batch_messages, decode, entity_stage, join_stage
from streams.state import StateStore

log = logging.getLogger(__name__)

#: Join entries marked done are forgotten after this long (redeliveries come much sooner).
DONE_RETENTION_SECONDS = 600.0

ProcessorFactory = Callable[[Settings], BatchProcessor]


def _tidy(state: dict[str, Any]) -> None:
    expire(state, time.time())


class Worker:
    """The worker's topics, state tables and counters, and one handler per agent.

    :func:`create_app` wires the handlers to Faust agents. Every batch handler completes its
    batch's sends (acked by the broker) before it flushes the states that mark the batch
    applied; :meth:`run_batches` commits the batch's offsets only after the handler returned.
    """

    def __init__(self, app: OffsetsApp, settings: Settings,
                 processor_factory: ProcessorFactory | None = None) -> None:
        self.app, self.settings = app, settings
        self._factory = processor_factory or _default_processor
        self._processor: BatchProcessor | None = None
        self.source = self._raw_topic(settings.topic_transactions)
        self.stages_topic = self._raw_topic(settings.topic_feature_stages)
        self.parts_topic = self._raw_topic(settings.topic_feature_parts)
        self.dlq = self._raw_topic(settings.topic_dlq)
        self.alerts = self._raw_topic(settings.topic_alerts)
        self.rates_topic = app.topic(settings.topic_fx_rates, key_serializer="raw",
                                     value_serializer="raw")
        engine = make_engine(settings.database_url, settings.ledger_sqlite_synchronous)
        self.account_states = StateStore(engine, ACCOUNT_STORE, tidy=_tidy)
        self.entity_states = StateStore(engine, ENTITY_STORE, tidy=_tidy)
        self.pending = StateStore(engine, JOIN_STORE)
        app.on_rebalance(self._forget_cached_states)
        self.done_log: list[tuple[float, list[str]]] = []  # (done at, transaction ids)
        self.scored_by: dict[str, int] = {}  # rows per model version ("name/version")
        #: "topic:partition" -> offset after the last record a completed batch held. Unlike
        #: the committed offset (a commit may be skipped, see streams.offsets), it always moves.
        self.processed: dict[str, int] = {}
        #: Per stage: batches, records, seconds handling them and committing their offsets.
        self.stage_times: dict[str, dict[str, float]] = {}
        self.stats = {"batches": 0, "events": 0, "labels": 0, "posted": 0, "rejected": 0,
                      "duplicates": 0, "dead_letters": 0, "lake_rows": 0, "alerts": 0,
                      "holds_expired": 0, "fx_rates": 0, "stage_records": 0, "parts": 0}

    def _raw_topic(self, name: str) -> faust.TopicT:
        return self.app.source_topic(name, key_type=bytes, value_type=bytes,
                                     key_serializer="raw", value_serializer="raw")

    def processor(self) -> BatchProcessor:
        """The effects processor, built on first use (it loads the model: call in a thread)."""
        if self._processor is None:
            self._processor = self._factory(self.settings)
        return self._processor

    async def in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    @staticmethod
    async def send_all(sends: Sequence[Awaitable[Any]]) -> None:
        # One at a time into the producer's buffer: concurrent sends may overtake each other
        # when the buffer is full, and the entity stages need their records in order.
        acks = [await send for send in sends]
        for ack in acks:
            await ack  # the broker acked it: only now may the batch be acknowledged

    async def run_batches(self, stream: faust.StreamT, name: str,
                          handle: Callable[[list[Any]], Awaitable[None]]) -> None:
        """Feed ``stream``'s micro-batches to ``handle``; commit each one it completed."""
        async for events in stream.take_events(self.settings.batch_size,
                                               within=self.settings.batch_within_seconds):
            try:
                started = time.perf_counter()
                await handle(events)
                handled = time.perf_counter()
                for tp, (_, high) in next_offsets(events).items():
                    key = f"{tp.topic}:{tp.partition}"
                    self.processed[key] = max(self.processed.get(key, 0), high)
                await self.app.commit_processed(events)
                self._timed(name, len(events), handled - started,
                            time.perf_counter() - handled)
            # Leaving the loop with an exception makes Faust restart the agent, whose next
            # commit would cover this batch: it would be lost. Stop hard instead; the
            # uncommitted batch is redelivered and every stage and effect is idempotent.
            except asyncio.CancelledError:
                log.warning("%s stopped mid-batch: %d records left for redelivery", name,
                            len(events))
                logging.shutdown()
                os._exit(0)
            except Exception:
                log.critical("%s cannot complete a batch of %d; exiting without acking it",
                             name, len(events), exc_info=True)
                logging.shutdown()
                os._exit(70)

    def _timed(self, stage: str, records: int, handle: float, commit: float) -> None:
        t = self.stage_times.setdefault(stage, {"batches": 0, "records": 0,
                                                "handle_seconds": 0.0, "commit_seconds": 0.0})
        t["batches"] += 1
        t["records"] += records
        t["handle_seconds"] += handle
        t["commit_seconds"] += commit
        log.debug("%s: %d records, handled in %.1f ms, committed in %.1f ms", stage, records,
                  handle * 1000, commit * 1000)

    async def features_batch(self, events: list[Any]) -> None:
        """Stage 1 (topic ``transactions``): account features, dead letters, the fan-out."""
        records = [RawRecord(e.message.value or b"", e.message.key, e.message.topic,
                             e.message.partition, e.message.offset) for e in events]
        out = account_stage(records, self.account_states.lookup, self.settings.partitions,
                            time.time())
        sends = [self.dlq.send(key=d.key, value=d.value, headers=d.headers)
                 for d in out.dead_letters]
        sends += [self.stages_topic.send(value=v, partition=p)
                  for p, v in batch_messages(out.stage_records)]
        sends += [self.parts_topic.send(value=v, partition=p)
                  for p, v in batch_messages(out.parts)]
        await self.send_all(sends)
        # Only now: a state marked applied had its outputs acked.
        await self.in_thread(self.account_states.flush)
        self.stats["events"] += out.events
        self.stats["labels"] += out.labels
        self.stats["duplicates"] += out.duplicates
        self.stats["dead_letters"] += len(out.dead_letters)
        self.stats["stage_records"] += sum(len(v) for v in out.stage_records.values())

    async def entity_batch(self, events: list[Any]) -> None:
        """Stage 2 (topic ``features.stages``): merchant, device and network-node parts."""
        parts: dict[int, list[Any]] = {}
        now = time.time()
        for e in events:
            for p, items in entity_stage(decode(e.message.value), self.entity_states.lookup,
                                         self.settings.partitions, now).items():
                parts.setdefault(p, []).extend(items)
        await self.send_all([self.parts_topic.send(value=v, partition=p)
                             for p, v in batch_messages(parts)])
        await self.in_thread(self.entity_states.flush)  # after the sends, as in stage 1

    async def join_batch(self, events: list[Any]) -> None:
        """Stage 3 (topic ``features.parts``): join the parts, run the complete ones' effects."""
        proc = await self.in_thread(self.processor)
        now = time.time()
        completed = []
        decoded = [decode(e.message.value) for e in events]
        # Nearly every part names a transaction not seen before: one query for all of them.
        await self.in_thread(self.pending.preload, [p[0] for items in decoded for p in items])
        for items in decoded:
            self.stats["parts"] += len(items)
            done = join_stage(items, self.pending.lookup, now)
            if done:
                self.done_log.append((now, [c.transaction_id for c in done]))
            completed += done
        self._forget_done(now)
        if not completed:
            await self.in_thread(self.pending.flush)  # held parts are stored before the commit
            return
        outcome = await self.in_thread(proc.commit_resilient,
                                       PreparedBatch.of_completed(completed))
        sends = [self.dlq.send(key=d.key, value=d.value, headers=d.headers)
                 for d in outcome.dead_letters]
        sends += [self.alerts.send(key=a["account_id"].encode(), value=encode_alert(a))
                  for a in outcome.alerts]
        await self.send_all(sends)
        # "done" markers only after the effects: a crash before redoes them.
        await self.in_thread(self.pending.flush)
        self.stats["batches"] += 1
        for key in ("posted", "rejected", "duplicates", "lake_rows"):
            self.stats[key] += getattr(outcome, key)
        self.stats["dead_letters"] += len(outcome.dead_letters)
        self.stats["alerts"] += len(outcome.alerts)
        for model, rows in outcome.scored_by.items():
            self.scored_by[model] = self.scored_by.get(model, 0) + rows
        log.info("batch of %d: posted=%d rejected=%d duplicates=%d dead_letters=%d "
                 "lake_rows=%d alerts=%d", len(completed), outcome.posted, outcome.rejected,
                 outcome.duplicates, len(outcome.dead_letters), outcome.lake_rows,
                 len(outcome.alerts))

    def _forget_done(self, now: float) -> None:
        while self.done_log and self.done_log[0][0] < now - DONE_RETENTION_SECONDS:
            for tid in self.done_log.pop(0)[1]:
                self.pending.delete_later(tid)

    def _forget_cached_states(self) -> None:
        for store in (self.account_states, self.entity_states, self.pending):
            store.forget_cached()

    async def expire_holds(self) -> None:
        """Release card holds whose authorization expired (each exactly once, ledger-enforced)."""
        if self._processor is not None:
            released = await self.in_thread(self._processor.ledger.expire_holds)
            self.stats["holds_expired"] += sum(r.status == "posted" for r in released)

    async def fx_rate(self, event: Any) -> None:
        """A rate published upstream lands in the ledger's rates table; a bad one dead-letters."""
        try:
            rate = FxRate.model_validate_json(event.message.value or b"")
        except ValueError as exc:
            log.warning("bad FX rate record at offset %s: %s", event.message.offset, exc)
            await self.dlq.send(key=event.message.key, value=event.message.value or b"",
                                headers=[("error.message", str(exc).encode()[:4000]),
                                         ("source.topic", self.settings.topic_fx_rates.encode())])
            return
        proc = await self.in_thread(self.processor)
        await self.in_thread(proc.ledger.set_rate, rate.base, rate.quote, rate.rate, rate.as_of,
                             rate.source)
        self.stats["fx_rates"] += 1

    def stats_page(self) -> dict[str, Any]:
        scorer = self._processor.scorer.stats() if self._processor is not None else None
        return {**self.stats, "scored_by": self.scored_by, "scorer": scorer,
                "processed": self.processed, "stages": self.stage_times}


def _faust_app(settings: Settings) -> OffsetsApp:
    app = OffsetsApp(  # stream partitions start at the committed offsets; agents commit
        settings.app_id,
        broker=f"kafka://{settings.broker}",
        store="memory://",
        datadir=str(settings.data_dir / "worker"),  # Faust's own files, under the data folder
        topic_partitions=settings.partitions,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        web_host="127.0.0.1",
        web_port=settings.worker_web_port,
        web_in_thread=False,
        autodiscover=False,
        broker_commit_every=settings.batch_size,
        stream_wait_empty=False,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_rebalance_timeout=settings.rebalance_timeout_seconds,
        broker_heartbeat_interval=1.0,
    )
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    return app


def create_app(settings: Settings,
               processor_factory: ProcessorFactory | None = None) -> faust.App:
    """Build the worker app. ``processor_factory(settings)`` is for tests."""
    app = _faust_app(settings)
    worker = Worker(app, settings, processor_factory)

    @app.agent(worker.source, name="flowlet-features")
    async def features_agent(stream: faust.StreamT) -> None:
        await worker.run_batches(stream, "features", worker.features_batch)

    @app.agent(worker.stages_topic, name="flowlet-entity-features")
    async def entity_agent(stream: faust.StreamT) -> None:
        await worker.run_batches(stream, "entity-features", worker.entity_batch)

    @app.agent(worker.parts_topic, name="flowlet-pipeline")
    async def pipeline_agent(stream: faust.StreamT) -> None:
        await worker.in_thread(worker.processor)  # load the model now, not on the first batch
        await worker.run_batches(stream, "pipeline", worker.join_batch)

    @app.timer(interval=settings.hold_expiry_interval_seconds)
    async def expire_holds() -> None:
        await worker.expire_holds()

    @app.agent(worker.rates_topic, name="flowlet-fx-rates")
    async def fx_rates(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await worker.fx_rate(event)

    @app.page("/stats/")
    async def stats_view(web: Any, request: Any) -> Any:
        return web.json(worker.stats_page())

    return app


def _default_processor(settings: Settings) -> BatchProcessor:
    from models.serving.scorer import Scorer  # mlflow import is slow; only the worker needs it

    ledger = Ledger.from_settings(settings)
    scorer = Scorer(settings)
    scorer.start()  # loads the champion now; a daemon thread hot-swaps it when the alias moves
    return BatchProcessor(settings, ledger, scorer, LakeSink(settings.lake_dir, ledger.engine))


def processor_when_ready(settings: Settings, retry_seconds: float = 2.0) -> BatchProcessor:
    """The worker's processor, once a model can be loaded: until then the worker waits, saying
    why every few seconds, and reads no event (it could not finish one)."""
    waited = 0.0
    while True:
        try:
            return _default_processor(settings)
        except RuntimeError as exc:
            if waited == 0.0 or waited % 30 < retry_seconds:
                log.warning("waiting for a model (%s); train one with `flowlet train` or point "
                            "FLOWLET_MODEL_NAME/FLOWLET_MODEL_ALIAS at one — no event is read "
                            "until then", exc)
        time.sleep(retry_seconds)
        waited += retry_seconds


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run a worker until stopped (SIGINT/SIGTERM); it starts consuming once a model loads."""
    from faust.worker import Worker as FaustWorker

    from streams.recovery import align_with_broker

    processor = processor_when_ready(settings)
    align_with_broker(settings, processor.ledger.engine)
    app = create_app(settings, processor_factory=lambda _settings: processor)
    FaustWorker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
