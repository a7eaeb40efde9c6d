"""``flowlet bench pipeline``: the pipeline's throughput next to the raw broker, in one run.

1. raw broker: aiokafka produce (acks=all) and group consume + ``json.loads`` on Tansu;
2. pipeline stages in-process (no Kafka): validate + features, then ledger + score + sink;
3. end to end: a worker process consuming the topic until every event is in ledger and lake.

Figures go to the terminal and to ``<data-dir>/bench.json``; nothing is asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from core.settings import Settings

console = Console(stderr=True)


def _events(n: int) -> list[bytes]:
    from simulator import Simulator

    end = datetime.now(UTC)
    sim = Simulator(seed=13, n_accounts=max(100, n // 40), n_merchants=200)
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
    from ledger import Ledger
    from models.serving.scorer import Scorer
    from streams.pipeline import BatchProcessor, RawRecord
    from streams.sink import LakeSink
    from streams.testing import InMemoryTopology

    stage_settings = settings.with_(data_dir=settings.data_dir / "stages",
                                    mlflow_tracking_uri=settings.mlflow_tracking_uri)
    ledger = Ledger.from_url(stage_settings.database_url)
    scorer = Scorer(stage_settings)
    scorer.load()
    proc = BatchProcessor(stage_settings, ledger, scorer,
                          LakeSink(stage_settings.lake_dir, ledger.engine))
    topology = InMemoryTopology()
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


def _end_to_end(settings: Settings, payloads: list[bytes]) -> dict[str, float]:
    import httpx
    from kafka import KafkaProducer

    from core.lake import connect
    from ledger import Ledger

    env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
    log = open(settings.data_dir / "bench-worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen([sys.executable, "-m", "flowlet", "worker"], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        stats_url = f"http://127.0.0.1:{settings.worker_web_port}/stats/"
        deadline = time.monotonic() + 120
        while True:  # ready = its web view answers and a warm-up event went through
            try:
                httpx.get(stats_url, timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise RuntimeError("worker did not start; see bench-worker.log") from None
                time.sleep(0.3)
        producer = KafkaProducer(bootstrap_servers=settings.broker, acks="all", linger_ms=5,
                                 enable_idempotence=False)
        warmup, rest = payloads[:1], payloads[1:]
        producer.send(settings.topic_transactions, warmup[0], key=b"warmup").get(30)
        ledger = Ledger.from_url(settings.database_url)
        while ledger.journal_count() < 1:
            time.sleep(0.2)
        t0 = time.perf_counter()
        for p in rest:
            producer.send(settings.topic_transactions, p,
                          key=json.loads(p)["account_id"].encode())
        producer.flush()
        def lake_rows() -> int:
            return int(connect(settings.lake_dir).sql(
                "select count(*) from transactions").fetchall()[0][0])

        # Done = every event journaled AND in the lake (the sink writes after the ledger).
        deadline = time.monotonic() + 600
        with console.status(f"worker processing {len(rest):,} events"):
            while (ledger.journal_count() < len(payloads) or lake_rows() < len(payloads)):
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise RuntimeError("the worker did not finish; see bench-worker.log")
                time.sleep(0.1)
        elapsed = time.perf_counter() - t0
        return {"end_to_end_per_s": len(rest) / elapsed, "end_to_end_seconds": elapsed,
                "lake_rows": float(lake_rows())}
    finally:
        worker.terminate()
        worker.wait(30)


def run_bench(n_events: int, out_dir: Path | None = None) -> dict[str, float]:
    from core.processes import free_port
    from models.training.run import ensure_champion
    from streams.broker import EmbeddedBroker
    from streams.topics import ensure_topics

    base = out_dir or Path(tempfile.mkdtemp(prefix="flowlet-bench-"))
    with console.status("simulating events and bootstrapping a model"):
        payloads = _events(n_events)
    with EmbeddedBroker(log_path=None) as broker:
        settings = Settings(data_dir=base, broker=broker.bootstrap,
                            worker_web_port=free_port())
        base.mkdir(parents=True, exist_ok=True)
        ensure_champion(settings)
        ensure_topics(settings)
        figures: dict[str, float] = {"events": float(n_events)}
        with console.status("raw broker"):
            figures.update(asyncio.run(_raw_broker(settings, payloads)))
        with console.status("pipeline stages in-process"):
            figures.update(_stages(settings, payloads))
        figures.update(_end_to_end(settings, payloads))
    figures["end_to_end_vs_raw_consume"] = (figures["end_to_end_per_s"]
                                            / figures["raw_consume_per_s"])
    report = {"machine": f"{platform.node()} {os.cpu_count()} cores {platform.machine()}",
              "python": platform.python_version(), "when": datetime.now(UTC).isoformat(),
              "figures": figures}
    (base / "bench.json").write_text(json.dumps(report, indent=2))
    table = Table(title=f"flowlet bench — {n_events:,} events, {report['machine']}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for k, v in figures.items():
        table.add_row(k, f"{v:,.3f}" if v < 10 else f"{v:,.0f}")
    Console().print(table)
    console.print(f"written to {base / 'bench.json'}")
    return figures
