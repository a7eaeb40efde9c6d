"""Latency at a fixed rate: broker ack → decision, per transaction.

Events are produced at ``rate`` per second for ``seconds`` (paced every millisecond, keyed by
account like any producer); each send's ack time is taken in the producer's callback. The
decision time is the lake row's ``processed_at``: when the worker had the transaction's ledger
result and score, just before it wrote the lake and emitted alerts. Both clocks are this
machine's, so the difference is the time the pipeline took.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
from kafka import KafkaProducer

from core.lake import connect
from core.settings import Settings


def produce_at_rate(settings: Settings, payloads: list[bytes], rate: float) -> dict[str, float]:
    """Send ``payloads`` at ``rate``/s; return each transaction id's ack time (epoch s)."""
    producer = KafkaProducer(bootstrap_servers=settings.broker, acks="all", linger_ms=1,
                             enable_idempotence=False)
    acked: dict[str, float] = {}

    def on_ack(tid: str) -> Callable[[object], None]:
        return lambda _metadata: acked.__setitem__(tid, time.time())

    t0 = time.perf_counter()
    for i, p in enumerate(payloads):
        due = t0 + i / rate
        wait = due - time.perf_counter()
        if wait > 0.001:
            time.sleep(wait)
        ev = json.loads(p)
        producer.send(settings.topic_transactions, p, key=ev["account_id"].encode()
                      ).add_callback(on_ack(ev["transaction_id"]))
    producer.flush()
    producer.close()
    return acked


def latencies_ms(settings: Settings, acked: dict[str, float]) -> np.ndarray:
    """Decision minus ack, in milliseconds, for every acked transaction in the lake."""
    rows = connect(settings.lake_dir).sql(
        "select transaction_id, epoch(processed_at) from transactions").fetchall()
    decided = dict(rows)
    return np.array([(decided[t] - a) * 1000.0 for t, a in acked.items() if t in decided])


def summary(ms: np.ndarray) -> dict[str, float]:
    if not len(ms):
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan"), "n": 0}
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "max": float(ms.max()), "n": int(len(ms))}


def now_iso() -> str:
    return datetime.now(UTC).isoformat()
