"""``flowlet bench features``: features/s online (the stream's stages) and offline."""

from __future__ import annotations

import os
import platform
import time
from datetime import UTC, datetime, timedelta

from rich.console import Console

console = Console(stderr=True)


def run_features_bench(n_events: int = 50_000) -> dict:
    """Features per second: the online stages in memory, and the offline builder, same events.

    Online runs the worker's parse and feature step (``InMemoryFeatures``) in micro-batches of
    500 without Kafka; offline runs ``build_features`` over the same history at once.
    """
    from features import FEATURE_NAMES, build_features, events_frame
    from simulator import Simulator
    from streams.pipeline import RawRecord
    from streams.testing import InMemoryFeatures

    with console.status(f"simulating {n_events:,} events over 30 days"):
        end = datetime.now(UTC)
        events = [t.event for t in Simulator(seed=23, n_accounts=max(200, n_events // 50),
                                             n_merchants=max(50, n_events // 500))
                  .generate(n_events, end - timedelta(days=30), end)]
        records = [RawRecord(e.model_dump_json().encode()) for e in events]
        frame = events_frame(events)
    online_features = InMemoryFeatures()
    with console.status("online: parse and every feature stage, batches of 500"):
        t0 = time.perf_counter()
        for start in range(0, len(records), 500):
            online_features.run(records[start:start + 500])
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
