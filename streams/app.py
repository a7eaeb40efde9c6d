"""The Faust worker: topic ``transactions`` (key = account id) through the batch pipeline.

One agent consumes micro-batches with ``stream.take_events(n, within=…)``. Feature state lives
in Faust windowed tables (changelog-backed, so it survives restarts; windows expire so memory
stays bounded). Because a batch holds events from several partitions, each table write runs
with that event set as Faust's current event, so the changelog record goes to the event's own
partition (co-partitioning holds). Events are acked only after the batch's ledger, lake and
dead-letter effects are done: at-least-once, with idempotent effects.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import faust
from faust.streams import _current_event

from features import WindowFeatureComputer
from features.definitions import DAY, WINDOW_FEATURES, WindowFeature
from flowlet.settings import Settings
from ledger import Ledger
from streams.pipeline import BatchProcessor, RawRecord, encode_alert
from streams.sink import LakeSink

log = logging.getLogger(__name__)


class FaustWindowStore:
    """:class:`features.online.WindowStore` over Faust tumbling windowed tables."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.tables = {
            f.name: app.Table(
                f"feature-{f.name}", default=float, partitions=settings.partitions,
                help=f.description,
            ).tumbling(f.window_seconds, expires=timedelta(seconds=2 * f.window_seconds))
            for f in WINDOW_FEATURES
        }

    def add_and_get(self, feature: WindowFeature, key: str, ts: float, value: float) -> float:
        windowed = self.tables[feature.name].relative_to(ts)
        window_set = windowed[key]
        window_set.apply(lambda a, b: a + b, value)
        return float(window_set.value())


class FaustVectorCache:
    """Feature vectors by transaction id, kept for two days of event time."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.table = app.Table(
            "feature-vectors", default=dict, partitions=settings.partitions
        ).tumbling(DAY, expires=timedelta(days=2))

    def get(self, transaction_id: str, ts: float) -> dict[str, float] | None:
        return self.table.relative_to(ts)[transaction_id].value() or None

    def put(self, transaction_id: str, ts: float, vector: dict[str, float]) -> None:
        self.table.relative_to(ts)[transaction_id] = vector


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
    features = WindowFeatureComputer(FaustWindowStore(app, settings))
    vectors = FaustVectorCache(app, settings)
    state: dict[str, BatchProcessor] = {}
    stats = {"batches": 0, "events": 0, "posted": 0, "duplicates": 0, "dead_letters": 0,
             "lake_rows": 0, "alerts": 0}

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
            outcome = await loop.run_in_executor(None, proc.commit, prepared)
            sends = [dlq.send(key=d.key, value=d.value, headers=d.headers)
                     for d in outcome.dead_letters]
            sends += [alerts.send(key=a["account_id"].encode(), value=encode_alert(a))
                      for a in outcome.alerts]
            for fut in await asyncio.gather(*sends):
                await fut  # wait for the broker's ack before the batch is acked
            stats["batches"] += 1
            stats["events"] += len(records)
            stats["posted"] += outcome.posted
            stats["duplicates"] += outcome.duplicates
            stats["dead_letters"] += len(outcome.dead_letters)
            stats["lake_rows"] += outcome.lake_rows
            stats["alerts"] += len(outcome.alerts)
            log.info("batch of %d: posted=%d duplicates=%d dead_letters=%d lake_rows=%d "
                     "alerts=%d", len(records), outcome.posted, outcome.duplicates,
                     len(outcome.dead_letters), outcome.lake_rows, len(outcome.alerts))

    @app.page("/stats/")
    async def stats_view(web: Any, request: Any) -> Any:
        return web.json(stats)

    return app


def _default_processor(settings: Settings, features: WindowFeatureComputer,
                       vectors: FaustVectorCache) -> BatchProcessor:
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
