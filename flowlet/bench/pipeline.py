"""``flowlet bench``: throughput figures, each next to the raw broker measured in the same run.

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
from collections.abc import Sequence
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
    from models.training.run import ensure_champion
    from streams.broker import EmbeddedBroker, free_port
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


def _ledger_events(n_events: int) -> list:
    from simulator import Simulator

    with console.status(f"simulating {n_events:,} events"):
        end = datetime.now(UTC)
        return [t.event for t in Simulator(seed=17, n_accounts=max(200, n_events // 50))
                .generate(n_events, end - timedelta(days=7), end)]


def _ledger_run(url: str | None, events: list, batch: int) -> dict:
    """One timed run on a fresh database: a new SQLite file (``url`` None) or a scratch schema
    (PostgreSQL, dropped afterwards); any other ``url`` is used as it is."""
    import uuid

    from sqlalchemy import create_engine, text

    from ledger import Ledger

    scratch = None
    if url is None:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='flowlet-ledger-bench-')}/ledger.db"
    elif url.startswith("postgresql"):
        scratch = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{scratch}"'))
        url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{scratch}"
    try:
        ledger = Ledger.from_url(url)
        statuses: dict[str, int] = {}
        with console.status(f"posting {len(events):,} events in batches of {batch}"):
            t0, cpu0 = time.perf_counter(), time.process_time()
            for start in range(0, len(events), batch):
                for r in ledger.post_batch(events[start:start + batch]):
                    statuses[r.status] = statuses.get(r.status, 0) + 1
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        figures = {"database": ledger.engine.dialect.name, "events": len(events),
                   "batch": batch, "seconds": round(elapsed, 3),
                   "postings_per_s": round(len(events) / elapsed),
                   "cpu_seconds": round(cpu, 3),  # this process; PostgreSQL's own CPU not included
                   "load_avg_1m": round(os.getloadavg()[0], 2), **statuses}
        ledger.engine.dispose()
    finally:
        if scratch is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{scratch}" CASCADE'))
            admin.dispose()
    return figures


def run_ledger_bench(url: str | None, n_events: int = 50_000, batch: int = 500) -> dict:
    """Postings per second through ``Ledger.post_batch`` (one database transaction per batch),
    with this process's CPU seconds and the 1-minute load average at the end of the run.

    ``url`` None means a fresh SQLite file; a PostgreSQL URL gets a scratch schema, dropped
    afterwards.
    """
    figures = _ledger_run(url, _ledger_events(n_events), batch)
    Console().print(figures)
    return figures


def run_ledger_bench_table(url: str | None, n_events: int = 50_000,
                           batches: Sequence[int] = (500,), runs: int = 1) -> list[dict]:
    """The ledger bench for every batch size, ``runs`` times each, on SQLite and — when
    ``url`` is PostgreSQL — on PostgreSQL too; a table of the medians, side by side."""
    import statistics

    events = _ledger_events(n_events)
    targets: list[str | None] = [None]
    if url is not None:
        targets = [None, url] if url.startswith("postgresql") else [url]
    rows = []
    for target in targets:
        for batch in batches:
            done = []
            for _ in range(runs):
                figures = _ledger_run(target, events, batch)
                console.print(json.dumps(figures), soft_wrap=True)
                done.append(figures)
            done.sort(key=lambda f: f["postings_per_s"])
            median = done[len(done) // 2]
            rows.append({**median, "runs": runs,
                         "runs_postings_per_s": [f["postings_per_s"] for f in done],
                         "median_postings_per_s": round(statistics.median(
                             f["postings_per_s"] for f in done))})
    table = Table(title=f"flowlet bench ledger — {n_events:,} events, median of {runs}, "
                        f"{platform.node()} {os.cpu_count()} cores")
    for name in ("batch", *dict.fromkeys(r["database"] for r in rows)):
        table.add_column(name, justify="right")
    by_batch: dict[int, list[str]] = {}
    for r in rows:
        by_batch.setdefault(r["batch"], []).append(
            f"{r['median_postings_per_s']:,}/s  cpu {r['cpu_seconds']:.1f}s  "
            f"load {r['load_avg_1m']:.2f}")
    for batch, cells in by_batch.items():
        table.add_row(str(batch), *cells)
    Console().print(table)
    return rows


def run_features_bench(n_events: int = 50_000) -> dict:
    """Features per second: the online stages in memory, and the offline builder, same events.

    Online runs the worker's three feature stages (``InMemoryTopology``) in micro-batches of
    500 without Kafka; offline runs ``build_features`` over the same history at once.
    """
    from features import FEATURE_NAMES, build_features, events_frame
    from simulator import Simulator
    from streams.pipeline import RawRecord
    from streams.testing import InMemoryTopology

    with console.status(f"simulating {n_events:,} events over 30 days"):
        end = datetime.now(UTC)
        events = [t.event for t in Simulator(seed=23, n_accounts=max(200, n_events // 50),
                                             n_merchants=max(50, n_events // 500))
                  .generate(n_events, end - timedelta(days=30), end)]
        records = [RawRecord(e.model_dump_json().encode()) for e in events]
        frame = events_frame(events)
    topology = InMemoryTopology()
    with console.status("online: account → entity → join stages, batches of 500"):
        t0 = time.perf_counter()
        for start in range(0, len(records), 500):
            topology.run(records[start:start + 500])
        online = time.perf_counter() - t0
    with console.status("offline: build_features over the whole history"):
        t0 = time.perf_counter()
        build_features(frame)
        offline = time.perf_counter() - t0
    n_features = len(FEATURE_NAMES)
    figures = {"events": n_events, "features_per_event": n_features,
               "online_events_per_s": round(n_events / online),
               "online_features_per_s": round(n_events * n_features / online),
               "offline_events_per_s": round(n_events / offline),
               "offline_features_per_s": round(n_events * n_features / offline),
               "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    Console().print(figures)
    return figures


def run_models_bench(n_events: int = 200_000) -> dict:
    """Ensemble training time and scoring rows/s (``flowlet.bench.models``)."""
    from flowlet.bench.models import run, tables

    with console.status("models bench") as status:
        figures = run(n_events, progress=lambda msg: status.update(msg))
    out = Console(width=max(Console().width, 132))  # the scoring table has 7 columns
    for table in tables(figures):
        out.print(table)
    return figures


def run_scorer_bench(n_events: int = 20_000, out_dir: Path | None = None,
                     seconds: float = 2.0) -> dict:
    """Scorer rows/s on micro-batches of 500 and 10,000 feature rows.

    Against a fresh registry (a champion and a challenger trained on simulated history):
    the model's own ``score_frame``, then :meth:`Scorer.score` without reason codes, with
    reason codes for alerts only (the default) and for every row, and with shadow scoring.
    Each figure is the best of repeated passes over the rows for about ``seconds``.
    """
    import numpy as np

    from features import build_features, feature_matrix
    from models.serving.scorer import Scorer
    from models.training.data import history_from_simulator
    from models.training.run import ensure_champion, train_simulated

    base = out_dir or Path(tempfile.mkdtemp(prefix="flowlet-scorer-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=base)
    with console.status("training a champion and a challenger"):
        ensure_champion(settings)
        end = datetime.now(UTC)
        # a fixed end: ending at the current hour, a small history may hold no labelled fraud
        challenger = train_simulated(settings, days=14, customers=300, seed=8, promote="never",
                                     end=datetime(2026, 3, 1, tzinfo=UTC),
                                     run_name="challenger").version
        from models.mlflow_env import MlflowClient

        MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri) \
            .set_registered_model_alias(settings.model_name, settings.shadow_alias, challenger)
    with console.status(f"features for {max(n_events, 10_000):,} simulated events"):
        history = history_from_simulator(7, seed=99, end=end,
                                         n_events=max(n_events, 10_000)).events
        rows = feature_matrix(build_features(history)).to_pandas()

    def rate(fn: object, batch: int) -> float:
        chunks = [rows.iloc[i:i + batch] for i in range(0, len(rows) - batch + 1, batch)]
        best = 0.0
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline or best == 0.0:
            t0 = time.perf_counter()
            for chunk in chunks:
                fn(chunk)  # type: ignore[operator]
            best = max(best, len(chunks) * batch / (time.perf_counter() - t0))
        return best

    variants = {
        "no_reasons": settings.with_(reason_codes_top_k=0),
        "reasons_alerts": settings,
        "reasons_all_rows": settings.with_(reason_codes_min_score=0.0),
        "shadow": settings.with_(shadow_enabled=True),
    }
    scorers = {}
    for key, s in variants.items():
        scorers[key] = Scorer(s)
        scorers[key].load()
    model = scorers["no_reasons"].current
    alert_rate = float(np.mean(scorers["reasons_alerts"].score(rows).is_alert))
    figures: dict[str, object] = {"rows": len(rows), "model": model.ref,
                                  "alert_rate": round(alert_rate, 4)}
    for batch in (500, 10_000):
        with console.status(f"batches of {batch:,}"):
            figures[f"model_score_frame_b{batch}_rows_per_s"] = round(rate(
                lambda x: model.score_frame(x[list(model.feature_names)]), batch))
            for key, scorer in scorers.items():
                figures[f"scorer_{key}_b{batch}_rows_per_s"] = round(rate(scorer.score, batch))
        figures[f"shadow_overhead_b{batch}"] = round(
            figures[f"scorer_reasons_alerts_b{batch}_rows_per_s"]  # type: ignore[operator]
            / figures[f"scorer_shadow_b{batch}_rows_per_s"] - 1, 3)  # type: ignore[operator]
    figures.update({"cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count()})
    (base / "bench-scorer.json").write_text(json.dumps(figures, indent=2))
    Console().print(figures)
    return figures
