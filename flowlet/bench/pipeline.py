"""``flowlet bench pipeline``: the pipeline's throughput next to the raw broker, in one run.

1. raw broker: aiokafka produce (acks=all) and group consume + ``json.loads`` on Tansu;
2. pipeline stages in-process (no Kafka): validate + features, then ledger + score + sink;
3. end to end: ``--workers`` worker processes (one group) consuming the topic until every
   event is in the ledger and the lake;
4. with ``--rate``: events produced at that rate for ``--seconds``, latency from each
   event's broker ack to its decision (:mod:`flowlet.bench.latency`);
5. the ingestion API: batched POSTs (the workers stopped, so it is the API's own figure).

Figures go to the terminal and to ``<out>/bench.json``; nothing is asserted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import platform
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from core.settings import Settings
from flowlet.bench.workers import Processes, fresh_schema, lake_files, lake_rows

console = Console(stderr=True)


def _events(n: int, seed: int = 13) -> list[bytes]:
    from simulator import Simulator

    end = datetime.now(UTC)
    sim = Simulator(seed=seed, n_accounts=max(100, n // 40), n_merchants=200)
    txs = sim.generate(n, end - timedelta(days=2), end)
    return [t.event.model_dump_json(exclude_none=True).encode() for t in txs]


async def _raw_broker(settings: Settings, payloads: list[bytes]) -> dict[str, float]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topic = "bench-raw"
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker, acks="all", linger_ms=5,
                                enable_idempotence=False)
    await producer.start()
    t0 = time.perf_counter()
    futures = [await producer.send(topic, p, key=str(i % 997).encode())
               for i, p in enumerate(payloads)]
    await asyncio.gather(*futures)
    produce = time.perf_counter() - t0
    await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.broker, group_id="bench",
                                auto_offset_reset="earliest")
    await consumer.start()
    got = 0
    t0 = time.perf_counter()
    while got < len(payloads):
        for records in (await consumer.getmany(timeout_ms=1000, max_records=5000)).values():
            for r in records:
                json.loads(r.value)
            got += len(records)
    consume = time.perf_counter() - t0
    await consumer.stop()
    return {"raw_produce_per_s": len(payloads) / produce,
            "raw_consume_per_s": len(payloads) / consume}


def _stages(settings: Settings, payloads: list[bytes]) -> dict[str, float]:
    from cases import CaseStore
    from ledger import Ledger
    from models.serving.scorer import Scorer
    from streams.pipeline import BatchProcessor, RawRecord
    from streams.sink import LakeSink
    from streams.testing import InMemoryFeatures

    stage_settings = settings.with_(  # its own ledger: the end-to-end run must post anew
        data_dir=settings.data_dir / "stages", mlflow_tracking_uri=settings.mlflow_tracking_uri,
        database_url=fresh_schema(settings.database_url.split("?")[0])
        if settings.database_url.startswith("postgresql") else "")
    ledger = Ledger.from_url(stage_settings.database_url)
    scorer = Scorer(stage_settings)
    scorer.load()
    proc = BatchProcessor(stage_settings, ledger, scorer,
                          LakeSink(stage_settings.lake_dir, ledger.engine),
                          CaseStore(ledger.engine))
    topology = InMemoryFeatures()
    records = [RawRecord(p) for p in payloads]
    prepare = commit = 0.0
    for start in range(0, len(records), settings.batch_size):
        t0 = time.perf_counter()
        batch = topology.run(records[start:start + settings.batch_size])
        t1 = time.perf_counter()
        proc.commit(batch)
        t2 = time.perf_counter()
        prepare += t1 - t0
        commit += t2 - t1
    n = len(records)
    return {"stage_validate_features_per_s": n / prepare, "stage_ledger_score_sink_per_s":
            n / commit, "stages_total_per_s": n / (prepare + commit)}


def _wait_lake(settings: Settings, workers: Processes, want: int, what: str,
               timeout: float = 1800) -> None:
    """Until ``want`` rows are in the lake (the sink writes after the ledger and the score)."""
    deadline = time.monotonic() + timeout
    with console.status(what):
        while lake_rows(settings.lake_dir) < want:
            workers.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: not done after {timeout:.0f} s")
            time.sleep(0.2)


def _end_to_end(settings: Settings, workers: Processes, payloads: list[bytes]) -> dict[str, float]:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.broker, acks="all", linger_ms=5,
                             enable_idempotence=False)
    # Warm-up: one event per partition, so every worker holds its partitions and has run every
    # stage once before the clock starts.
    warmup, rest = payloads[:settings.partitions], payloads[settings.partitions:]
    for partition, p in enumerate(warmup):
        producer.send(settings.topic_transactions, p, partition=partition).get(30)
    _wait_lake(settings, workers, len(warmup), "warming up the workers", 300)
    t0 = time.perf_counter()
    for p in rest:
        producer.send(settings.topic_transactions, p, key=json.loads(p)["account_id"].encode())
    producer.flush()
    producer.close()
    _wait_lake(settings, workers, len(payloads), f"workers processing {len(rest):,} events")
    elapsed = time.perf_counter() - t0
    return {"end_to_end_per_s": len(rest) / elapsed, "end_to_end_seconds": elapsed}


def _latency(settings: Settings, workers: Processes, payloads: list[bytes],
             rate: float) -> dict[str, float]:
    from flowlet.bench.latency import latencies_ms, produce_at_rate, summary

    before = lake_rows(settings.lake_dir)
    with console.status(f"producing {len(payloads):,} events at {rate:,.0f}/s"):
        acked = produce_at_rate(settings, payloads, rate)
    _wait_lake(settings, workers, before + len(payloads), "the last events at the fixed rate")
    return summary(latencies_ms(settings, acked))


def _api(settings: Settings, payloads: list[bytes]) -> dict[str, float]:
    from flowlet.bench.api import post_batches
    from flowlet.keys import tool_key

    api = Processes(settings)
    [api_settings] = api.start("api")
    try:
        api.wait_ready()
        with console.status(f"posting {len(payloads):,} events to the API"):
            return post_batches(f"http://127.0.0.1:{api_settings.api_port}/v1/transactions",
                                payloads, key=tool_key(api_settings, "bench"))
    finally:
        api.stop()


def _load() -> float:
    return os.getloadavg()[0]


def run_bench(n_events: int, out_dir: Path | None = None, workers: int = 1,
              rate: float | None = None, seconds: float = 60.0,
              api: bool = True, db_url: str | None = None) -> dict[str, object]:
    """Every figure of the pipeline in one sitting; writes ``<out>/bench.json``."""
    from core.processes import free_port
    from models.training.run import ensure_champion
    from streams.broker import EmbeddedBroker
    from streams.topics import ensure_topics

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per POST otherwise
    base = out_dir or Path(tempfile.mkdtemp(prefix="flowlet-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    load_before = _load()
    with console.status("simulating events"):
        payloads = _events(n_events)
        paced = _events(int(rate * seconds), seed=14) if rate else []
        posted = _events(n_events, seed=15) if api else []
    figures: dict[str, object] = {"events": n_events, "workers": workers,
                                  "database": (db_url or "sqlite").split(":", 1)[0]}
    with EmbeddedBroker(log_path=None) as broker:
        settings = Settings(data_dir=base, broker=broker.bootstrap,
                            worker_web_port=free_port(), partitions=max(4, workers),
                            database_url=fresh_schema(db_url) if db_url else "")
        with console.status("bootstrapping a model"):
            ensure_champion(settings)
        ensure_topics(settings)
        with console.status("raw broker"):
            figures.update(asyncio.run(_raw_broker(settings, payloads)))
        with console.status("pipeline stages in-process"):
            figures.update(_stages(settings, payloads))
        procs = Processes(settings)
        procs.start("worker", workers)
        try:
            procs.wait_ready()
            figures.update(_end_to_end(settings, procs, payloads))
            if rate:
                figures["rate_per_s"], figures["rate_seconds"] = rate, seconds
                figures["latency_ms"] = _latency(settings, procs, paced, rate)
        finally:
            procs.stop()
        if api:
            figures.update(_api(settings, posted))
    figures["lake_rows"] = lake_rows(settings.lake_dir)
    figures["lake_files"] = lake_files(settings.lake_dir)
    figures["end_to_end_vs_raw_produce"] = (float(figures["end_to_end_per_s"])  # type: ignore[arg-type]
                                            / float(figures["raw_produce_per_s"]))  # type: ignore[arg-type]
    report = {"machine": f"{platform.node()} {os.cpu_count()} cores {platform.machine()}",
              "python": platform.python_version(), "when": datetime.now(UTC).isoformat(),
              "load_1m_before": load_before, "load_1m_after": _load(), **figures}
    (base / "bench.json").write_text(json.dumps(report, indent=2))
    _print(report, n_events)
    console.print(f"written to {base / 'bench.json'}")
    return report


def _print(report: dict[str, object], n_events: int) -> None:
    table = Table(title=f"flowlet bench pipeline — {n_events:,} events, {report['machine']}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for k, v in report.items():
        if isinstance(v, dict):
            v = ", ".join(f"{kk} {vv:,.1f}" for kk, vv in v.items())
        elif isinstance(v, float):
            v = f"{v:,.3f}" if v < 10 else f"{v:,.0f}"
        table.add_row(k, str(v))
    Console().print(table)
