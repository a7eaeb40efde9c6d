"""The Faust worker: transactions → account features → entity features → join → effects.

Three agents (see ``streams.stages`` for what each computes):

* ``flowlet-features`` on ``transactions`` (key = account): parse, dead-letter, account-
  partitioned features, fan-out of stage records re-keyed by entity;
* ``flowlet-entity-features`` on ``features.stages``: merchant, device and network-node
  features, state keyed by entity;
* ``flowlet-pipeline`` on ``features.parts``: joins a transaction's parts and runs the effects
  (ledger, score, lake, alerts) for complete ones, one database transaction per micro-batch.

Each agent consumes micro-batches with ``stream.take_events(n, within=…)``; its state is a
changelog-backed table co-partitioned with its topic, read and written once per key per batch.
A batch's offsets are committed (by the agent: ``streams.offsets``) only after its sends were
acked by the broker and its effects are done: at-least-once, with idempotent stages and effects.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import faust
from faust.streams import _current_event, current_event

from core.settings import Settings
from features.online import expire
from ledger import Ledger
from streams.offsets import OffsetsApp
from streams.pipeline import BatchProcessor, FxRate, PreparedBatch, RawRecord, encode_alert
from streams.sink import LakeSink
from streams.stages import account_stage, batch_messages, decode, entity_stage, join_stage

log = logging.getLogger(__name__)

#: Join entries marked done are forgotten after this long (redeliveries come much sooner).
DONE_RETENTION_SECONDS = 600.0


class JsonStateTable:
    """A changelog-backed Faust table of JSON states, read once and written once per batch.

    Values are JSON bytes we encode ourselves (NaN survives; Faust's codec may not keep it).
    A micro-batch spans partitions, so each write runs with an event of the key's own partition
    set as Faust's current event — that decides the changelog partition (co-partitioning).
    """

    def __init__(self, app: faust.App, name: str, partitions: int,
                 tidy: Any = None) -> None:
        self.table = app.Table(name, default=None, key_type=bytes, value_type=bytes,
                               partitions=partitions)
        self._tidy = tidy
        self._cache: dict[str, tuple[bytes | None, dict[str, Any]]] = {}
        self._dirty: dict[str, Any] = {}
        self._deletes: list[tuple[str, Any]] = []

    def lookup(self, key: str) -> dict[str, Any]:
        """The key's state, to be mutated in place; the current event fixes its partition."""
        raw = self.table.get(key.encode())
        hit = self._cache.get(key)
        if hit is not None and hit[0] is raw:  # decoded already, and nobody wrote it since
            state = hit[1]
        else:
            state = json.loads(raw) if raw else {}
            self._cache[key] = (raw, state)
        self._dirty[key] = current_event()
        return state

    def delete_later(self, key: str) -> None:
        self._deletes.append((key, current_event()))

    def flush(self) -> None:
        for key, event in self._dirty.items():
            state = self._cache[key][1]
            if self._tidy is not None:
                self._tidy(state)
            raw = json.dumps(state, separators=(",", ":")).encode()
            with _as_current(event):
                self.table[key.encode()] = raw
            self._cache[key] = (raw, state)
        for key, event in self._deletes:
            with _as_current(event):
                self.table.pop(key.encode(), None)
            self._cache.pop(key, None)
        self._dirty.clear()
        self._deletes.clear()
        if len(self._cache) > 50_000:  # bounded: the table itself is the source of truth
            self._cache.clear()


@contextmanager
def _as_current(event: Any) -> Iterator[None]:
    token = _current_event.set(weakref.ref(event)) if event is not None else None
    try:
        yield
    finally:
        if token is not None:
            _current_event.reset(token)


def create_app(settings: Settings, processor_factory: Any = None) -> faust.App:
    """Build the worker app. ``processor_factory(settings)`` is for tests."""
    app = OffsetsApp(  # stream partitions start at the committed offsets; agents commit
        settings.app_id,
        broker=f"kafka://{settings.broker}",
        store="memory://",
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
    n = settings.partitions

    def raw_topic(name: str) -> faust.TopicT:
        return app.source_topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                                value_serializer="raw")  # run_batches commits, not Faust

    source = raw_topic(settings.topic_transactions)
    stages_topic = raw_topic(settings.topic_feature_stages)
    parts_topic = raw_topic(settings.topic_feature_parts)
    dlq = raw_topic(settings.topic_dlq)
    alerts = raw_topic(settings.topic_alerts)
    def tidy(st: dict[str, Any]) -> None:
        expire(st, time.time())

    account_states = JsonStateTable(app, "account-feature-state", n, tidy=tidy)
    entity_states = JsonStateTable(app, "entity-feature-state", n, tidy=tidy)
    pending = JsonStateTable(app, "pending-feature-vectors", n)
    done_log: list[tuple[float, list[str], Any]] = []  # (done at, ids, event of their partition)
    state: dict[str, BatchProcessor] = {}
    scored_by: dict[str, int] = {}  # rows per model version ("name/version")
    stats = {"batches": 0, "events": 0, "labels": 0, "posted": 0, "rejected": 0,
             "duplicates": 0, "dead_letters": 0, "lake_rows": 0, "alerts": 0,
             "holds_expired": 0, "fx_rates": 0, "stage_records": 0, "parts": 0}

    def processor() -> BatchProcessor:
        if "p" not in state:
            factory = processor_factory or _default_processor
            state["p"] = factory(settings)
        return state["p"]

    async def send_all(sends: Sequence[Awaitable[Any]]) -> None:
        # One at a time into the producer's buffer: concurrent sends may overtake each other
        # when the buffer is full, and the entity stages need their records in order.
        acks = [await send for send in sends]
        for ack in acks:
            await ack  # the broker acked it: only now may the batch be acknowledged

    async def run_batches(stream: faust.StreamT, name: str,
                          handle: Callable[[list[Any]], Awaitable[None]]) -> None:
        async for events in stream.take_events(settings.batch_size,
                                               within=settings.batch_within_seconds):
            try:
                await handle(events)
                await app.commit_processed(events)
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

    async def features_batch(events: list[Any]) -> None:
        records = [RawRecord(e.message.value or b"", e.message.key, e.message.topic,
                             e.message.partition, e.message.offset, handle=e) for e in events]

        def on_record(r: RawRecord) -> None:
            _current_event.set(weakref.ref(r.handle))

        token = _current_event.set(None)
        try:
            out = account_stage(records, account_states.lookup, n, on_record, time.time())
        finally:
            _current_event.reset(token)
        sends = [dlq.send(key=d.key, value=d.value, headers=d.headers)
                 for d in out.dead_letters]
        sends += [stages_topic.send(value=v, partition=p)
                  for p, v in batch_messages(out.stage_records)]
        sends += [parts_topic.send(value=v, partition=p) for p, v in batch_messages(out.parts)]
        await send_all(sends)
        account_states.flush()  # only now: a state marked applied had its outputs delivered
        stats["events"] += out.events
        stats["labels"] += out.labels
        stats["duplicates"] += out.duplicates
        stats["dead_letters"] += len(out.dead_letters)
        stats["stage_records"] += sum(len(v) for v in out.stage_records.values())

    async def entity_batch(events: list[Any]) -> None:
        parts: dict[int, list[Any]] = {}
        now = time.time()
        for e in events:
            with _as_current(e):
                for p, items in entity_stage(decode(e.message.value), entity_states.lookup,
                                             n, now).items():
                    parts.setdefault(p, []).extend(items)
        await send_all([parts_topic.send(value=v, partition=p)
                        for p, v in batch_messages(parts)])
        entity_states.flush()  # after the sends, as in the account stage

    async def join_batch(events: list[Any]) -> None:
        loop = asyncio.get_running_loop()
        proc = await loop.run_in_executor(None, processor)
        now = time.time()
        completed = []
        for e in events:
            with _as_current(e):
                items = decode(e.message.value)
                stats["parts"] += len(items)
                done = join_stage(items, pending.lookup, now)
                if done:
                    done_log.append((now, [c.transaction_id for c in done], e))
                completed += done
        while done_log and done_log[0][0] < now - DONE_RETENTION_SECONDS:
            _, tids, e = done_log.pop(0)
            with _as_current(e):
                for tid in tids:
                    pending.delete_later(tid)
        if not completed:
            pending.flush()  # parts of incomplete transactions reach the changelog before ack
            return
        batch = PreparedBatch.of_completed(completed)
        outcome = await loop.run_in_executor(None, proc.commit_resilient, batch)
        sends = [dlq.send(key=d.key, value=d.value, headers=d.headers)
                 for d in outcome.dead_letters]
        sends += [alerts.send(key=a["account_id"].encode(), value=encode_alert(a))
                  for a in outcome.alerts]
        await send_all(sends)
        pending.flush()  # "done" markers only after the effects: a crash before redoes them
        stats["batches"] += 1
        for key in ("posted", "rejected", "duplicates", "lake_rows"):
            stats[key] += getattr(outcome, key)
        stats["dead_letters"] += len(outcome.dead_letters)
        stats["alerts"] += len(outcome.alerts)
        for model, rows in outcome.scored_by.items():
            scored_by[model] = scored_by.get(model, 0) + rows
        log.info("batch of %d: posted=%d rejected=%d duplicates=%d dead_letters=%d "
                 "lake_rows=%d alerts=%d", len(completed), outcome.posted, outcome.rejected,
                 outcome.duplicates, len(outcome.dead_letters), outcome.lake_rows,
                 len(outcome.alerts))

    @app.agent(source, name="flowlet-features")
    async def features_agent(stream: faust.StreamT) -> None:
        await run_batches(stream, "features", features_batch)

    @app.agent(stages_topic, name="flowlet-entity-features")
    async def entity_agent(stream: faust.StreamT) -> None:
        await run_batches(stream, "entity-features", entity_batch)

    @app.agent(parts_topic, name="flowlet-pipeline")
    async def pipeline_agent(stream: faust.StreamT) -> None:
        await asyncio.get_running_loop().run_in_executor(None, processor)  # load the model now
        await run_batches(stream, "pipeline", join_batch)

    @app.timer(interval=settings.hold_expiry_interval_seconds)
    async def expire_holds() -> None:
        """Release card holds whose authorization expired (each exactly once, ledger-enforced)."""
        proc = state.get("p")
        if proc is not None:
            released = await asyncio.get_running_loop().run_in_executor(
                None, proc.ledger.expire_holds)
            stats["holds_expired"] += sum(r.status == "posted" for r in released)

    rates_topic = app.topic(settings.topic_fx_rates, key_serializer="raw",
                            value_serializer="raw")

    @app.agent(rates_topic, name="flowlet-fx-rates")
    async def fx_rates(stream: faust.StreamT) -> None:
        """Rates published upstream land in the ledger's rates table; bad ones dead-letter."""
        loop = asyncio.get_running_loop()
        async for event in stream.events():
            try:
                rate = FxRate.model_validate_json(event.message.value or b"")
            except ValueError as exc:
                log.warning("bad FX rate record at offset %s: %s", event.message.offset, exc)
                await dlq.send(key=event.message.key, value=event.message.value or b"",
                               headers=[("error.message", str(exc).encode()[:4000]),
                                        ("source.topic", settings.topic_fx_rates.encode())])
                continue
            proc = await loop.run_in_executor(None, processor)
            await loop.run_in_executor(None, lambda r=rate, p=proc: p.ledger.set_rate(
                r.base, r.quote, r.rate, r.as_of, r.source))
            stats["fx_rates"] += 1

    @app.page("/stats/")
    async def stats_view(web: Any, request: Any) -> Any:
        proc = state.get("p")
        scorer = proc.scorer.stats() if proc is not None else None
        return web.json({**stats, "scored_by": scored_by, "scorer": scorer})

    return app


def _default_processor(settings: Settings) -> BatchProcessor:
    from models.serving.scorer import Scorer  # mlflow import is slow; only the worker needs it

    ledger = Ledger.from_settings(settings)
    scorer = Scorer(settings)
    scorer.start()  # loads the champion now; a daemon thread hot-swaps it when the alias moves
    return BatchProcessor(settings, ledger, scorer, LakeSink(settings.lake_dir, ledger.engine))


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run a worker until stopped (SIGINT/SIGTERM)."""
    from faust.worker import Worker

    app = create_app(settings)
    Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
