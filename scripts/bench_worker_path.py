"""Measure the worker's batch path in one process, without Kafka: CPU per event, per step.

    PYTHONPATH=$PWD python scripts/bench_worker_path.py --events 20000 --batch-size 2000

Runs what ``streams.app.Worker`` runs for each micro-batch — parse, lock the feature states
(``StateStore.begin``), features (``featurize``), effects (``commit_resilient``: ledger,
score, alert sources, cases, lake) and the state's commit with the watermark — on simulated
records spread over four partitions by account, with the worker's default processor, in a
new data folder (the champion: ``--mlflow-uri``'s, or a bootstrap one trained first).
Reports the wall seconds per step and the process's CPU time per event: on a shared machine
the CPU time moves far less with the load than the wall time. Prints figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
import zlib
from pathlib import Path

from core.settings import Settings
from flowlet.bench.pipeline import _events
from models.training.run import ensure_champion
from streams.app import _default_processor, state_store
from streams.pipeline import RawRecord
from streams.recovery import WATERMARK, watermark_of
from streams.stages import featurize, parse_batch, state_keys

PARTITIONS = 4


def _records(payloads: list[bytes]) -> list[RawRecord]:
    offsets = [0] * PARTITIONS
    out = []
    for p in payloads:
        partition = zlib.crc32(json.loads(p)["account_id"].encode()) % PARTITIONS
        out.append(RawRecord(p, None, "transactions", partition, offsets[partition]))
        offsets[partition] += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=Settings().batch_size)
    parser.add_argument("--mlflow-uri", default="",
                        help="take the champion from this MLflow store (default: train one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="worker-path-")),
                        mlflow_tracking_uri=args.mlflow_uri, batch_size=args.batch_size)
    ensure_champion(settings)
    records = _records(_events(args.events))
    processor = _default_processor(settings)
    state = state_store(settings)
    steps = dict.fromkeys(("parse", "lock", "features", "effects", "state_commit"), 0.0)
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(records), args.batch_size):
        t0 = time.perf_counter()
        parsed = parse_batch(records[start:start + args.batch_size])
        t1 = time.perf_counter()
        state.begin(state_keys(parsed.items))
        t2 = time.perf_counter()
        featurized = featurize(parsed, state.lookup, time.time())
        t3 = time.perf_counter()
        outcome = processor.commit_resilient(featurized.batch)
        t4 = time.perf_counter()
        mark = watermark_of(outcome.rows)
        state.commit({WATERMARK: mark} if mark else None)
        t5 = time.perf_counter()
        for step, seconds in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4),
                                 strict=True):
            steps[step] += seconds
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    n = len(records)
    print(f"{n:,} events in batches of {args.batch_size:,}: {n / wall:,.0f} events/s wall, "
          f"{cpu / n * 1e6:,.0f} us of CPU per event")
    print("wall seconds per step: " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()))
    batches = -(-n // args.batch_size)
    writes = state.writes
    print(f"state commit: {steps['state_commit'] / batches * 1e3:.1f} ms per batch; keys "
          f"written as a change {writes['changes']:,} ({writes['change_bytes'] / 1e6:.1f} MB), "
          f"whole {writes['whole']:,} ({writes['whole_bytes'] / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
