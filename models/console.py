"""``flowlet train`` on a terminal: rich progress for the steps, a metrics table, the gate."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from flowlet.settings import Settings
from models.fit import TrainConfig
from models.registry import Promote
from models.training import TrainResult, train_ensemble

log = logging.getLogger(__name__)

SHOWN = ("average_precision", "roc_auc", "recall_at_fpr_0.01", "precision_at_k",
         "alerts", "cost_minor")


def run_train(settings: Settings, *, events: str | int = 30_000, labels: str | None = None,
              days: int = 14, seed: int = 7, gap_days: float | None = None,
              margin: float = 0.0, promote: Promote = "gate",
              console: Console | None = None) -> TrainResult:
    """Train on Parquet ``events`` + ``labels`` paths, or on ``events`` simulated events over
    ``days`` days; print the comparison and the gate decision."""
    from models.data import history_from_simulator

    console = console or Console(stderr=True)
    config = TrainConfig()
    if gap_days is not None:
        config = TrainConfig(gap=timedelta(days=gap_days))
    with console.status("preparing") as status:
        if isinstance(events, int) or str(events).isdigit():
            n = int(events)
            status.update(f"simulating {n:,} events over {days} days")
            history = history_from_simulator(days, seed=seed, end=datetime.now(UTC),
                                             customers=max(100, n // (2 * days)),
                                             merchants=max(20, n // 200), n_events=n)
            ev, lab, source = history.events, history.labels, f"simulator seed={seed}"
        else:
            if labels is None:
                raise SystemExit("--events PATH needs --labels PATH")
            ev, lab = Path(events), Path(labels)
            source = f"{ev.resolve()} + {lab.resolve()}"
        result = train_ensemble(ev, lab, settings, config=config, seed=seed,
                                gate_margin=margin, promote=promote,
                                progress=lambda msg: status.update(msg),
                                lineage={"source": source})
    render(result, Console())
    return result


def render(result: TrainResult, console: Console) -> None:
    s = result.split
    table = Table(title=f"test window {s.test_start:%Y-%m-%d %H:%M} → {s.test_end:%Y-%m-%d %H:%M}"
                        f" UTC (gap {s.gap}, labels as of {s.label_cutoff:%Y-%m-%d %H:%M})")
    table.add_column("model")
    for name in SHOWN:
        table.add_column(name, justify="right")
    for model, metrics in result.comparison.items():
        table.add_row(model, *(_fmt(metrics.get(k, math.nan)) for k in SHOWN))
    console.print(table)
    g = result.gate
    if g is None:
        console.print(f"not registered (run {result.run_id})")
        return
    verdict = "[green]promoted to champion[/]" if g.promoted else (
        f"[yellow]{g.alias or 'no alias'}[/]")
    console.print(f"{result.model_name} v{result.version}: {verdict} — {g.reason}")
    console.print(f"run {result.run_id}; timings " + ", ".join(
        f"{k.removesuffix('_seconds')} {v:.1f}s" for k, v in result.timings.items()))


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "–"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.4f}"
