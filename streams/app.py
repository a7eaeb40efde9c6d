"""The Faust worker: one agent on ``transactions`` runs each micro-batch through every step.

For each micro-batch (:meth:`streams.offsets.OffsetsApp.take_source`: the records fetched, up
to ``batch_size``, as soon as there is one; batches grow with the backlog),
:meth:`Worker.transactions_batch` parses each record once (bad ones become dead letters),
locks and reads the feature states the batch touches (:class:`streams.state.StateStore`),
computes every transaction's feature vector (:mod:`streams.stages`) and runs the effects —
ledger, score, lake — in one call (:meth:`streams.pipeline.BatchProcessor.commit_resilient`).
Then :meth:`Worker.commit` finishes the batch, in this order:

1. send the batch's dead letters and alerts;
2. wait until the broker acked every one of them;
3. commit the feature state (one database transaction, with the processing watermark);
4. commit the batch's source offsets (``streams.offsets``).

A crash before 3 leaves the old state: the redelivered batch computes the same vectors, and
the ledger and the lake deduplicate by ``transaction_id``; alerts may be sent twice with the
same ``alert_id``. A crash between 3 and 4 leaves state marking the batch applied: its
redelivery is skipped. All the work of a batch runs on one thread (the state's connection
lives there), so the event loop keeps heart-beating.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import Message

from cases import CaseStore
from core.db import make_engine
from core.settings import Settings
from customers import CustomerBook
from detectors import typology_detectors
from features.online import expire
from ledger import Ledger
from rules import RuleAlerts, RuleStore
from rules.customers import customer_lookup
from screening import ScreeningSource
from streams.keys import KeyGate, KeyStore, Refusal, token_from
from streams.lake_compactor import compact_once
from streams.offsets import OffsetsApp, next_offsets
from streams.pipeline import BatchOutcome, BatchProcessor, RawRecord
from streams.recovery import WATERMARK, catch_up, watermark_of
from streams.rows import FxRate, encode_alert
from streams.sink import LabelSink, LakeSink
from streams.stages import featurize, parse_batch, state_keys
from streams.state import StateStore

log = logging.getLogger(__name__)

ProcessorFactory = Callable[[Settings], BatchProcessor]


@dataclass
class BatchWork:
    """What a batch's work left for :meth:`Worker.commit`."""

    outcome: BatchOutcome
    events: int
    labels: int
    redelivered: int


def state_store(settings: Settings) -> StateStore:
    return StateStore(make_engine(settings.state_database_url,
                                  settings.ledger_sqlite_synchronous), tidy=expire)


class Worker:
    """The worker's topics, feature state and counters; its handlers are plain methods and
    :func:`create_app` wires them to Faust agents."""

    def __init__(self, app: OffsetsApp, settings: Settings,
                 processor_factory: ProcessorFactory | None = None) -> None:
        self.app, self.settings = app, settings
        self._factory = processor_factory or _default_processor
        self._processor: BatchProcessor | None = None
        self.source = app.source_topic(settings.topic_transactions, key_type=bytes,
                                       value_type=bytes, key_serializer="raw",
                                       value_serializer="raw",
                                       buffer_records=2 * settings.batch_size)
        self.dlq = self._topic(settings.topic_dlq)
        self.alerts = self._topic(settings.topic_alerts)
        self.rates_topic = self._topic(settings.topic_fx_rates)
        self.state = state_store(settings)
        #: Every step of a batch runs here: one thread owns the state's connection.
        self.batch_thread = ThreadPoolExecutor(1, thread_name_prefix="flowlet-batch")
        self.scored_by: dict[str, int] = {}  # rows per model version ("name/version")
        self.alerted_by: dict[str, int] = {}  # alerts per model version
        #: "topic:partition" -> offset after the last record a completed batch held. Unlike
        #: the committed offset (a commit may be skipped, see streams.offsets), it always moves.
        self.processed: dict[str, int] = {}
        #: Batches, records, seconds in the batches' work, commit and the commit's steps.
        self.timings = {"batches": 0, "records": 0, "work_seconds": 0.0, "commit_seconds": 0.0,
                        "sends_seconds": 0.0, "state_seconds": 0.0, "offsets_seconds": 0.0}
        self.stats = {"batches": 0, "events": 0, "labels": 0, "posted": 0, "rejected": 0,
                      "duplicates": 0, "redelivered": 0, "dead_letters": 0, "lake_rows": 0,
                      "alerts": 0, "holds_expired": 0, "fx_rates": 0, "customers": 0}

    def _topic(self, name: str) -> faust.TopicT:
        return self.app.topic(name, key_serializer="raw", value_serializer="raw")

    def processor(self) -> BatchProcessor:
        """The effects processor, built on first use (it loads the model: call in a thread)."""
        if self._processor is None:
            self._processor = self._factory(self.settings)
        return self._processor

    async def in_batch_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.batch_thread, fn, *args)

    async def start(self) -> None:
        """Load the model and bring the feature state up to the lake, before any batch."""
        await self.in_batch_thread(self.processor)
        await self.in_batch_thread(catch_up, self.settings, self.state)

    async def run_batches(self) -> None:
        """Run and commit each micro-batch of the source topic; stop hard on what cannot be."""
        while True:
            events = await self.app.take_source(self.source, self.settings.batch_size,
                                                self.settings.batch_within_seconds)
            try:
                started = time.perf_counter()
                work = await self.transactions_batch(events)
                worked = time.perf_counter()
                await self.commit(events, work)
                self._count(events, work, worked - started, time.perf_counter() - worked)
            # Leaving the loop with an exception makes Faust restart the agent, whose next
            # commit would cover this batch: it would be lost. Stop hard instead; the
            # uncommitted batch is redelivered and every step is idempotent.
            except asyncio.CancelledError:
                log.warning("stopped mid-batch: %d records left for redelivery", len(events))
                logging.shutdown()
                os._exit(0)
            except Exception:
                log.critical("cannot complete a batch of %d; exiting without acking it",
                             len(events), exc_info=True)
                logging.shutdown()
                os._exit(70)

    async def transactions_batch(self, events: Sequence[Message]) -> BatchWork:
        """Parse, features and effects of one micro-batch (the state stays uncommitted)."""
        records = [RawRecord(m.value or b"", m.key, m.topic, m.partition, m.offset)
                   for m in events]
        return await self.in_batch_thread(self._work, records)

    def _work(self, records: list[RawRecord]) -> BatchWork:
        parsed = parse_batch(records)
        self.state.begin(state_keys(parsed.items))
        try:
            featurized = featurize(parsed, self.state.lookup, time.time())
            outcome = self.processor().commit_resilient(featurized.batch)
        except BaseException:
            self.state.rollback()
            raise
        return BatchWork(outcome, len(featurized.batch.events), featurized.labels,
                         featurized.redelivered)

    async def commit(self, events: Sequence[Message], work: BatchWork) -> None:
        """Finish a batch whose effects are done: 1. send its dead letters and alerts, 2. wait
        for the broker's acks, 3. commit the feature state, 4. commit the source offsets."""
        outcome = work.outcome
        sends = [self.dlq.send(key=d.key, value=d.value, headers=d.headers)
                 for d in outcome.dead_letters]
        sends += [self.alerts.send(key=a["account_id"].encode(), value=encode_alert(a))
                  for a in outcome.alerts]
        mark = watermark_of(outcome.rows)
        t0 = time.perf_counter()
        await self.send_all(sends)  # 1, 2
        t1 = time.perf_counter()
        await self.in_batch_thread(self.state.commit, {WATERMARK: mark} if mark else None)  # 3
        t2 = time.perf_counter()
        await self.app.commit_processed(events)  # 4
        for step, seconds in (("sends", t1 - t0), ("state", t2 - t1),
                              ("offsets", time.perf_counter() - t2)):
            self.timings[f"{step}_seconds"] += seconds

    @staticmethod
    async def send_all(sends: Sequence[Awaitable[Any]]) -> None:
        acks = [await send for send in sends]  # into the producer's buffer, in order
        for ack in acks:
            await ack  # the broker acked it: only now may the batch be acknowledged

    def _count(self, events: Sequence[Message], work: BatchWork, work_seconds: float,
               commit_seconds: float) -> None:
        for tp, (_, high) in next_offsets(events).items():
            key = f"{tp.topic}:{tp.partition}"
            self.processed[key] = max(self.processed.get(key, 0), high)
        outcome = work.outcome
        self.stats["batches"] += 1
        self.stats["events"] += work.events
        self.stats["labels"] += work.labels
        self.stats["customers"] += outcome.customers
        self.stats["redelivered"] += work.redelivered
        for key in ("posted", "rejected", "duplicates", "lake_rows"):
            self.stats[key] += getattr(outcome, key)
        self.stats["dead_letters"] += len(outcome.dead_letters)
        self.stats["alerts"] += len(outcome.alerts)
        for model, rows in outcome.scored_by.items():
            self.scored_by[model] = self.scored_by.get(model, 0) + rows
        for a in outcome.alerts:
            self.alerted_by[a["model_version"]] = self.alerted_by.get(a["model_version"], 0) + 1
        t = self.timings
        t["batches"] += 1
        t["records"] += len(events)
        t["work_seconds"] += work_seconds
        t["commit_seconds"] += commit_seconds
        log.debug("batch of %d records: work %.1f ms, commit %.1f ms; posted=%d rejected=%d "
                  "duplicates=%d dead_letters=%d lake_rows=%d alerts=%d", len(events),
                  work_seconds * 1000, commit_seconds * 1000, outcome.posted, outcome.rejected,
                  outcome.duplicates, len(outcome.dead_letters), outcome.lake_rows,
                  len(outcome.alerts))

    async def expire_holds(self) -> None:
        """Release card holds whose authorization expired (each exactly once, ledger-enforced)."""
        if self._processor is not None:
            released = await self.in_batch_thread(self._processor.ledger.expire_holds)
            self.stats["holds_expired"] += sum(r.status == "posted" for r in released)

    async def compact_lake(self) -> None:
        """Merge the lake's small batch files (another worker's compactor may hold the lock:
        then this round is skipped). Not on the batch thread: batches go on meanwhile."""
        stats = await asyncio.to_thread(compact_once, self.settings)
        if stats.files_written:
            log.info("lake compacted: %d batch files into %d (%d rows) in %.2f s", stats.batches,
                     stats.files_written, stats.rows_written, stats.seconds)

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
        proc = await self.in_batch_thread(self.processor)
        await self.in_batch_thread(proc.ledger.set_rate, rate.base, rate.quote, rate.rate,
                                   rate.as_of, rate.source)
        self.stats["fx_rates"] += 1

    def stats_page(self) -> dict[str, Any]:
        scorer = self._processor.scorer.stats() if self._processor is not None else None
        sources = {type(s).__name__: s.stats() for s in (
            self._processor.alert_sources if self._processor is not None else ())
            if hasattr(s, "stats")}
        alert_rates = {model: {"scored": n, "alerts": self.alerted_by.get(model, 0),
                               "alert_rate": round(self.alerted_by.get(model, 0) / n, 6)}
                       for model, n in self.scored_by.items() if n}
        return {**self.stats, "scored_by": self.scored_by, "alert_rate_by_model": alert_rates,
                "scorer": scorer, "alert_sources": sources,
                "processed": self.processed, "timings": self.timings}


def _faust_app(settings: Settings) -> OffsetsApp:
    app = OffsetsApp(  # stream partitions start at the committed offsets; agents commit
        settings.app_id,
        broker=f"kafka://{settings.broker}",
        store="memory://",
        datadir=str(settings.data_dir / "worker"),  # Faust's own files, under the data folder
        topic_partitions=settings.partitions,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        web_host=settings.worker_web_host,
        web_bind=settings.worker_web_host,  # Faust binds 0.0.0.0 unless told
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

    @app.agent(worker.source, name="flowlet-pipeline")
    async def pipeline_agent(stream: faust.StreamT) -> None:  # noqa: ARG001 - batches instead
        await worker.start()
        await worker.run_batches()

    @app.timer(interval=settings.hold_expiry_interval_seconds)
    async def expire_holds() -> None:
        await worker.expire_holds()

    @app.timer(interval=settings.lake_compact_seconds)
    async def compact_lake() -> None:
        await worker.compact_lake()

    @app.agent(worker.rates_topic, name="flowlet-fx-rates")
    async def fx_rates(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await worker.fx_rate(event)

    opened: dict[str, KeyStore] = {}

    def key_store() -> KeyStore:  # the API's keys, opened at the first request
        if "keys" not in opened:
            opened["keys"] = KeyStore(settings.api_database_url)
        return opened["keys"]

    gate = KeyGate(key_store, settings.api_key_cache_seconds)

    @app.page("/stats/")
    async def stats_view(web: Any, request: Any) -> Any:
        """The worker's counters, for an API key with scope ``read`` (as the API's)."""
        verdict = await asyncio.to_thread(gate.check, token_from(request.headers), "read")
        if isinstance(verdict, Refusal):
            return web.json({"detail": verdict.detail}, status=verdict.status,
                            headers=verdict.headers or None)
        return web.json(worker.stats_page())

    return app


def _default_processor(settings: Settings) -> BatchProcessor:
    from models.serving.scorer import Scorer  # mlflow import is slow; only the worker needs it

    ledger = Ledger.from_settings(settings)
    scorer = Scorer(settings)
    scorer.start()  # loads the champion now; a daemon thread hot-swaps it when the alias moves
    screening = ScreeningSource(ledger.engine, settings.screening_threshold)
    return BatchProcessor(settings, ledger, scorer, LakeSink(settings.lake_dir, ledger.engine),
                          CaseStore(ledger.engine), LabelSink(settings.lake_dir, ledger.engine),
                          alert_sources=[screening, RuleAlerts(RuleStore(ledger.engine),
                                                    customers=customer_lookup(ledger.engine)),
                                         typology_detectors(settings)],
                          customer_sources=[screening], customers=CustomerBook(ledger.engine))


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

    class PromptWorker(FaustWorker):  # type: ignore[misc]
        """Faust's worker without the fixed waits after its services stopped.

        Once the app stopped (agents cancelled, offsets committed, producer flushed, group
        left), mode's ``Worker._shutdown_loop`` still polls for leftover tasks for up to 1 s
        and then sleeps 1 s in a sentinel task before closing the loop: with the interpreter's
        exit on a loaded machine that outlasted ``flowlet up``'s grace, which then killed
        every worker it stopped. Every effect is durable and idempotent, so the process ends
        right after cancelling what is left (like a batch cancelled mid-way, see
        :meth:`Worker.run_batches`)."""

        def _shutdown_loop(self) -> None:
            with contextlib.suppress(asyncio.CancelledError):
                self.loop.run_until_complete(self._gather_futures())
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            with contextlib.suppress(BaseException):
                self.loop.run_until_complete(asyncio.sleep(0))
            if self.crash_reason:
                log.critical("worker crashed: %r", self.crash_reason)
            else:
                log.info("worker stopped")
            logging.shutdown()
            os._exit(70 if self.crash_reason else 0)

    processor = processor_when_ready(settings)
    app = create_app(settings, processor_factory=lambda _settings: processor)
    PromptWorker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
