"""Model throughput: training time on N simulated events, ensemble scoring rows/s by batch size.

Scoring is measured two ways on the same feature frames (float64 pandas, as the scorer passes
them): ``score_frame`` (the fast path) and ``pyfunc.predict`` of the model saved and loaded
through MLflow (schema enforcement included), with the boosters on 1 thread (as loaded) and on
every core. Each figure is the best of a few repetitions of at least ~0.3 s.
"""

from __future__ import annotations

import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from features import FEATURE_NAMES
from models.data import history_from_simulator
from models.fit import TrainConfig, fit_and_evaluate
from models.mlflow_env import mlflow
from models.splits import time_split

log = logging.getLogger(__name__)

BATCHES = (500, 10_000, 100_000)


def _rate(fn: Callable[[], object], rows: int, min_seconds: float = 0.3,
          repeats: int = 3) -> float:
    best = 0.0
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += rows
            elapsed = time.perf_counter() - t0
            if elapsed >= min_seconds:
                break
        best = max(best, n / elapsed)
    return best


def run(n_events: int = 200_000, days: int = 30, seed: int = 13,
        progress: Callable[[str], None] | None = None) -> dict[str, object]:
    step = progress or (lambda _m: None)
    figures: dict[str, object] = {
        "events": n_events, "machine": f"{platform.node()} {os.cpu_count()} cores "
        f"{platform.machine()} {platform.processor()}".strip()}
    step(f"simulating {n_events:,} events over {days} days")
    t0 = time.perf_counter()
    history = history_from_simulator(days, seed=seed, end=datetime(2026, 3, 1, tzinfo=UTC),
                                     customers=max(200, n_events // (2 * days)),
                                     merchants=max(50, n_events // 500), n_events=n_events)
    figures["simulate_seconds"] = time.perf_counter() - t0
    ev = history.events
    config = TrainConfig()
    split = time_split(ev["occurred_at"].min(),
                       ev["occurred_at"].max() + timedelta(microseconds=1), gap=config.gap)
    step("features + fit + evaluation")
    fitted = fit_and_evaluate(ev, history.labels, split, config, seed, progress=step)
    figures.update(fitted.timings)
    figures["fit_rows"] = fitted.counts["fit_rows"]
    figures["test_average_precision"] = fitted.comparison["ensemble"]["average_precision"]
    model = fitted.model

    X = fitted.prepared.X
    frames = {b: pd.DataFrame(X[np.arange(b) % len(X)].astype(np.float64),
                              columns=list(FEATURE_NAMES)) for b in BATCHES}
    step("saving and loading the pyfunc")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model"
        sample = frames[BATCHES[0]].head(20)
        mlflow.pyfunc.save_model(path, python_model=model.shell(),
                                 artifacts=model.save_boosters(Path(tmp)),
                                 signature=mlflow.models.infer_signature(
                                     sample, model.score_frame(sample)))
        pyfunc = mlflow.pyfunc.load_model(str(path))
        inner = pyfunc.unwrap_python_model()
        for threads in (1, os.cpu_count() or 1):
            inner.set_threads(threads)
            for b, frame in frames.items():
                step(f"scoring batches of {b:,} on {threads} thread(s)")
                figures[f"score_frame_rows_per_s_batch{b}_threads{threads}"] = _rate(
                    lambda f=frame: inner.score_frame(f), b)
                figures[f"pyfunc_predict_rows_per_s_batch{b}_threads{threads}"] = _rate(
                    lambda f=frame: pyfunc.predict(f), b)
        contrib = frames[10_000]
        inner.set_threads(1)
        figures["contributions_rows_per_s_batch10000_threads1"] = _rate(
            lambda: inner.contributions(contrib), len(contrib), repeats=1)
    figures["when"] = datetime.now(UTC).isoformat()
    return figures
