"""The Faust worker: topic ``transactions`` (key = account id) through the batch pipeline.

One agent consumes micro-batches with ``stream.take_events(n, within=…)``. Feature state lives
in a Faust table keyed by account holding tumbling-window buckets (changelog-backed, so it
survives restarts; buckets expire so memory stays bounded), written once per account per
batch. Because a batch holds events from several partitions, each table write runs with one of
that account's events set as Faust's current event, so the changelog record goes to the
account's own partition (co-partitioning holds). Events are acked only after the batch's
ledger, lake and dead-letter effects are done: at-least-once, with idempotent effects.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import faust
from faust.streams import _current_event, current_event

from features import WindowFeatureComputer
from features.definitions import DAY, WINDOW_FEATURES, WindowFeature, bucket_start
from flowlet.settings import Settings
from ledger import Ledger
from streams.pipeline import BatchProcessor, FxRate, RawRecord, encode_alert
from streams.sink import LakeSink

log = logging.getLogger(__name__)


class FaustAccountState:
    """Online feature state: one changelog-backed Faust table keyed by account.

    Each value holds the account's tumbling-window buckets for every declared window feature
    and the feature vectors of the transactions it processed in the last two days (for
    redeliveries). It is written back once per touched account per micro-batch — Faust's
    native windowed tables write one changelog record per window per update (five per event
    here), which was measured at ~0.9k events/s end to end. Buckets expire two windows after the
    account's newest event and cached vectors two days after they were computed, so state
    stays bounded.
    """

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.table = app.Table("account-feature-state", default=dict,
                               partitions=settings.partitions)
        self._dirty: dict[str, tuple[dict[str, Any], Any]] = {}
        self._windows = {f.name: f.window_seconds for f in WINDOW_FEATURES}

    def _peek(self, entity: str) -> dict[str, Any]:
        hit = self._dirty.get(entity)
        return hit[0] if hit is not None else (self.table.get(entity) or {})

    def _touch(self, entity: str) -> dict[str, Any]:
        state = self._peek(entity)
        state.setdefault("w", {})
        state.setdefault("v", {})
        self._dirty[entity] = (state, current_event())  # remember a partition to write to
        return state

    def add_and_get(self, feature: WindowFeature, entity: str, key: str, ts: float,
                    value: float) -> float:
        state = self._touch(entity)
        slots = state["w"].setdefault(f"{feature.name}|{key}", {})
        bucket = str(bucket_start(ts, feature.window_seconds))
        total = slots.get(bucket, 0.0) + value
        slots[bucket] = total
        state["t"] = max(state.get("t", 0.0), ts)
        return float(total)

    def get(self, ev: Any) -> dict[str, float] | None:
        hit = self._peek(ev.account_id).get("v", {}).get(ev.transaction_id)
        return hit[1] if hit else None

    def put(self, ev: Any, vector: dict[str, float]) -> None:
        # Kept by processing time: a late event must stay cached as long as a fresh one.
        self._touch(ev.account_id)["v"][ev.transaction_id] = [time.time(), vector]

    def flush(self) -> None:
        for entity, (state, event) in self._dirty.items():
            newest = state.get("t", 0.0)
            for slot_key, buckets in list(state["w"].items()):
                horizon = newest - 2 * self._windows.get(slot_key.split("|", 1)[0], DAY)
                for bucket in [b for b in buckets if float(b) < horizon]:
                    del buckets[bucket]
                if not buckets:
                    del state["w"][slot_key]
            kept_since = time.time() - 2 * DAY
            state["v"] = {t: v for t, v in state["v"].items() if v[0] >= kept_since}
            token = _current_event.set(weakref.ref(event)) if event is not None else None
            try:
                self.table[entity] = state  # assign back: this is what the changelog records
            finally:
                if token is not None:
                    _current_event.reset(token)
        self._dirty.clear()


@contextmanager
def faust_event_context(record: RawRecord) -> Iterator[None]:
    """Make ``record``'s Faust event the current one while its table writes happen."""
    token = _current_event.set(weakref.ref(record.handle))
    try:
        yield
    finally:
        _current_event.reset(token)


def create_app(settings: Settings, processor_factory: Any = None) -> faust.App:
    """Build the worker app. ``processor_factory(settings, features, vectors)`` is for tests."""
    app = faust.App(
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
    source = app.topic(settings.topic_transactions, key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw")
    dlq = app.topic(settings.topic_dlq, key_serializer="raw", value_serializer="raw")
    alerts = app.topic(settings.topic_alerts, key_serializer="raw", value_serializer="raw")
    account_state = FaustAccountState(app, settings)
    features = WindowFeatureComputer(account_state)
    vectors = account_state
    state: dict[str, BatchProcessor] = {}
    stats = {"batches": 0, "events": 0, "posted": 0, "rejected": 0, "duplicates": 0,
             "dead_letters": 0, "lake_rows": 0, "alerts": 0, "holds_expired": 0,
             "fx_rates": 0}

    def processor() -> BatchProcessor:
        if "p" not in state:
            if processor_factory is not None:
                state["p"] = processor_factory(settings, features, vectors)
            else:
                state["p"] = _default_processor(settings, features, vectors)
        return state["p"]

    @app.agent(source, name="flowlet-pipeline")
    async def pipeline(stream: faust.StreamT) -> None:
        loop = asyncio.get_running_loop()
        proc = await loop.run_in_executor(None, processor)
        async for events in stream.take_events(settings.batch_size,
                                               within=settings.batch_within_seconds):
            records = [
                RawRecord(e.message.value or b"", e.message.key, e.message.topic,
                          e.message.partition, e.message.offset, handle=e)
                for e in events
            ]
            prepared = proc.prepare(records, faust_event_context)
            try:
                outcome = await loop.run_in_executor(None, proc.commit_resilient, prepared)
                sends = [dlq.send(key=d.key, value=d.value, headers=d.headers)
                         for d in outcome.dead_letters]
                sends += [alerts.send(key=a["account_id"].encode(), value=encode_alert(a))
                          for a in outcome.alerts]
                for fut in await asyncio.gather(*sends):
                    await fut  # wait for the broker's ack before the batch is acked
            # Leaving the loop with an exception makes take_events ack the batch on its way
            # out (and Faust restart the agent): the batch would be lost. Stop hard instead;
            # the unacked batch is redelivered to whichever worker takes the partitions, and
            # every effect is idempotent.
            except asyncio.CancelledError:
                log.warning("stopped mid-batch: %d events left unacknowledged for redelivery",
                            len(records))
                logging.shutdown()
                os._exit(0)
            except Exception:
                log.critical("cannot complete a batch of %d; exiting without acking it",
                             len(records), exc_info=True)
                logging.shutdown()
                os._exit(70)
            stats["batches"] += 1
            stats["events"] += len(records)
            stats["posted"] += outcome.posted
            stats["rejected"] += outcome.rejected
            stats["duplicates"] += outcome.duplicates
            stats["dead_letters"] += len(outcome.dead_letters)
            stats["lake_rows"] += outcome.lake_rows
            stats["alerts"] += len(outcome.alerts)
            log.info("batch of %d: posted=%d rejected=%d duplicates=%d dead_letters=%d "
                     "lake_rows=%d alerts=%d", len(records), outcome.posted, outcome.rejected,
                     outcome.duplicates,
                     len(outcome.dead_letters), outcome.lake_rows, len(outcome.alerts))

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
        return web.json(stats)

    return app


def _default_processor(settings: Settings, features: WindowFeatureComputer,
                       vectors: FaustAccountState) -> BatchProcessor:
    from models.scorer import Scorer  # mlflow import is slow; only the worker needs it

    ledger = Ledger.from_url(settings.database_url)
    scorer = Scorer(settings)
    scorer.load()
    return BatchProcessor(settings, ledger, scorer, LakeSink(settings.lake_dir, ledger.engine),
                          features, vectors)


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run a worker until stopped (SIGINT/SIGTERM)."""
    from faust.worker import Worker

    app = create_app(settings)
    Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
