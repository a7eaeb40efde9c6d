"""Model throughput: training time on N simulated events, ensemble scoring rows/s by batch size.

* **training** — ``simulator.simulate_history`` (the fast generator, ~83 events per
  customer over 30 days), then ``fit_and_evaluate``: features, fit (XGBoost + IsolationForest +
  combiner), evaluation; seconds per phase and the process's peak RSS after each;
* **scoring** — on the same feature frames the scorer passes (float64 pandas, model column
  order), batches of 500 / 10,000 / 100,000 rows: ``score_frame`` (the fast path, on the
  native kernel of ``models.ensemble.native``) and ``pyfunc.predict`` of the model saved and loaded
  through MLflow (schema enforcement included), and — the reference measured in the same run —
  ``score_frame`` on XGBoost's own predictor; 1 thread (as loaded) and every core;
* **contributions** (reason codes) on 50 rows (an alert-sized batch) and 10,000 rows.

Each rate is the **median of 3** timed passes of at least ``min_seconds``; the 1-minute load
average is recorded before and after scoring (the machine is shared: compare like with like).
"""

from __future__ import annotations

import logging
import os
import platform
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from models.mlflow_env import mlflow
from models.training.fit import TrainConfig, fit_and_evaluate
from models.training.splits import time_split
from simulator import simulate_history

console = Console(stderr=True)

log = logging.getLogger(__name__)

BATCHES = (500, 10_000, 100_000)
CONTRIBUTION_BATCHES = (50, 10_000)
#: events per customer over 30 days from ``simulate_history`` (measured: 2,000 → ~166k)
EVENTS_PER_CUSTOMER_MONTH = 83
END = datetime(2026, 3, 1, tzinfo=UTC)


def _rate(fn: Callable[[], object], rows: int, min_seconds: float,
          repeats: int = 3) -> float:
    """Rows/s, the median of ``repeats`` passes of at least ``min_seconds`` each."""
    fn()  # warm-up
    rates = []
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += rows
            elapsed = time.perf_counter() - t0
            if elapsed >= min_seconds:
                break
        rates.append(n / elapsed)
    return statistics.median(rates)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _load() -> float:
    return os.getloadavg()[0]


def machine() -> str:
    return (f"{platform.node()} {os.cpu_count()} cores {platform.machine()} "
            f"{platform.processor()}").strip()


def run(n_events: int = 200_000, days: int = 30, seed: int = 13,
        config: TrainConfig | None = None, batches: tuple[int, ...] = BATCHES,
        progress: Callable[[str], None] | None = None) -> dict[str, object]:
    step = progress or (lambda _m: None)
    config = config or TrainConfig()
    customers = max(200, round(n_events * 30 / days / EVENTS_PER_CUSTOMER_MONTH))
    figures: dict[str, object] = {"machine": machine(), "requested_events": n_events,
                                  "load_start": _load()}
    step(f"simulating ~{n_events:,} events: {customers:,} customers over {days} days")
    t0 = time.perf_counter()
    history = simulate_history(days, seed=seed, end=END, customers=customers,
                               merchants=max(50, customers // 8))
    figures["simulate_seconds"] = time.perf_counter() - t0
    figures["simulate_peak_rss_mb"] = _peak_rss_mb()
    ev = history.events
    figures["events"] = ev.height
    split = time_split(ev["occurred_at"].min(),
                       ev["occurred_at"].max() + timedelta(microseconds=1), gap=config.gap,
                       test_fraction=config.test_fraction,
                       validation_fraction=config.validation_fraction)
    fitted = fit_and_evaluate(ev, history.labels, split, config, seed, progress=step)
    figures.update(fitted.timings)
    figures["train_peak_rss_mb"] = _peak_rss_mb()
    figures["fit_rows"] = fitted.counts["fit_rows"]
    figures["xgb_trees"] = fitted.model.supervised.booster.num_boosted_rounds()
    figures["xgb_nthread"] = config.xgb.nthread
    figures.update({f"test_ap_{name}": m["average_precision"]
                    for name, m in fitted.comparison.items()})
    del history, ev
    figures.update(scoring(fitted.model, fitted.prepared.X, batches, step))
    figures["when"] = datetime.now(UTC).isoformat(timespec="seconds")
    return figures


def scoring(model: object, X: np.ndarray, batches: tuple[int, ...] = BATCHES,
            progress: Callable[[str], None] | None = None,
            min_seconds: float = 0.3) -> dict[str, float]:
    """Rows/s of ``score_frame``, ``pyfunc.predict`` and ``contributions`` of ``model``."""
    step = progress or (lambda _m: None)
    names = list(model.feature_names)  # type: ignore[attr-defined]
    frames = {b: pd.DataFrame(X[np.arange(b) % len(X)].astype(np.float64), columns=names)
              for b in {*batches, *CONTRIBUTION_BATCHES}}
    out: dict[str, float] = {"load_scoring_start": _load()}
    step("saving and loading the pyfunc")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model"
        sample = frames[min(frames)].head(20)
        mlflow.pyfunc.save_model(path, python_model=model.shell(),  # type: ignore[attr-defined]
                                 artifacts=model.save_boosters(Path(tmp)),  # type: ignore[attr-defined]
                                 signature=mlflow.models.infer_signature(
                                     sample, model.score_frame(sample)))  # type: ignore[attr-defined]
        pyfunc = mlflow.pyfunc.load_model(str(path))
        inner = pyfunc.unwrap_python_model()
        native = inner._native  # models.ensemble.native's kernel; None when it was not built
        out["native_kernel"] = float(native is not None)
        for threads in sorted({1, os.cpu_count() or 1}):
            inner.set_threads(threads)
            for b in batches:
                frame = frames[b]
                step(f"scoring batches of {b:,} on {threads} thread(s)")
                out[f"score_frame_rows_per_s_batch{b}_threads{threads}"] = _rate(
                    lambda f=frame: inner.score_frame(f), b, min_seconds)
                out[f"pyfunc_predict_rows_per_s_batch{b}_threads{threads}"] = _rate(
                    lambda f=frame: pyfunc.predict(f), b, min_seconds)
                # the reference in the same run: the same model on XGBoost's own predictor
                inner._native = None
                try:
                    out[f"xgboost_predictor_rows_per_s_batch{b}_threads{threads}"] = _rate(
                        lambda f=frame: inner.score_frame(f), b, min_seconds)
                finally:
                    inner._native = native
        inner.set_threads(1)
        for b in CONTRIBUTION_BATCHES:
            step(f"contributions for {b:,} rows")
            out[f"contributions_rows_per_s_batch{b}_threads1"] = _rate(
                lambda f=frames[b]: inner.contributions(f), b, min_seconds)
    out["load_scoring_end"] = _load()
    return out


def tables(figures: dict[str, object]) -> list[object]:
    """``flowlet bench models`` output: rich tables for training, scoring, contributions."""
    from rich.table import Table

    def num(key: str, fmt: str = "{:,.1f}") -> str:
        v = figures.get(key)
        return "—" if v is None else fmt.format(v)

    train = Table(title=f"training — {num('events', '{:,}')} events "
                  f"({num('fit_rows', '{:,.0f}')} fit rows), {figures.get('machine')}")
    for col in ("phase", "seconds", "peak RSS MB"):
        train.add_column(col, justify="left" if col == "phase" else "right")
    train.add_row("simulate", num("simulate_seconds"), num("simulate_peak_rss_mb", "{:,.0f}"))
    train.add_row("features", num("features_seconds"), "")
    train.add_row(f"fit (XGBoost {num('xgb_trees', '{}')} trees, nthread "
                  f"{num('xgb_nthread', '{}')}; IsolationForest; combiner)",
                  num("fit_seconds"), num("train_peak_rss_mb", "{:,.0f}"))
    train.add_row("evaluate", num("evaluate_seconds"), "")
    aps = ", ".join(f"{k.removeprefix('test_ap_')} {v:.4f}" for k, v in figures.items()
                    if k.startswith("test_ap_") and isinstance(v, float))
    train.caption = f"test-window AP: {aps}"

    threads = sorted({int(k.rsplit("threads", 1)[1]) for k in figures
                      if k.startswith("score_frame_rows_per_s")})
    kernel = "native kernel" if figures.get("native_kernel") else "native kernel NOT built"
    score = Table(title=f"scoring rows/s (median of 3, {kernel}) — load average "
                  f"{num('load_scoring_start', '{:.2f}')} → {num('load_scoring_end', '{:.2f}')}")
    score.add_column("batch", justify="right")
    for t in threads:
        score.add_column(f"score_frame {t} thr", justify="right")
        score.add_column(f"pyfunc.predict {t} thr", justify="right")
        score.add_column(f"XGBoost predictor {t} thr", justify="right")
    batches = sorted({int(k.split("batch")[1].split("_")[0]) for k in figures
                      if k.startswith("score_frame_rows_per_s")})
    for b in batches:
        cells = []
        for t in threads:
            cells += [num(f"score_frame_rows_per_s_batch{b}_threads{t}", "{:,.0f}"),
                      num(f"pyfunc_predict_rows_per_s_batch{b}_threads{t}", "{:,.0f}"),
                      num(f"xgboost_predictor_rows_per_s_batch{b}_threads{t}", "{:,.0f}")]
        score.add_row(f"{b:,}", *cells)
    contrib = Table(title="contributions rows/s (1 thread, median of 3)")
    contrib.add_column("batch", justify="right")
    contrib.add_column("rows/s", justify="right")
    for b in CONTRIBUTION_BATCHES:
        contrib.add_row(f"{b:,}", num(f"contributions_rows_per_s_batch{b}_threads1", "{:,.0f}"))
    return [train, score, contrib]


def run_models_bench(n_events: int = 200_000) -> dict:
    """Ensemble training time and scoring rows/s (``flowlet.bench.models``)."""
    with console.status("models bench") as status:
        figures = run(n_events, progress=lambda msg: status.update(msg))
    out = Console(width=max(Console().width, 132))  # the scoring table has 7 columns
    for table in tables(figures):
        out.print(table)
    return figures
