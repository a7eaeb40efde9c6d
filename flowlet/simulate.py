"""``flowlet simulate --days N``: simulate a history, write it to the lake, show a summary.

>>> h = simulate_history(days=2, seed=5, customers=80, merchants=10)
>>> s = summary(h)
>>> s["events"] == h.events.height, s["patterns"]["card_testing"] > 0
(True, True)
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from simulator.history import History, simulate_history
from simulator.lake import history_dir, write_history
from simulator.typologies import AML_PATTERNS, PATTERNS

log = logging.getLogger(__name__)


def summary(history: History) -> dict:
    """Counts per pattern and label delays (median days, per family) of a history."""
    ev, labels = history.events, history.labels
    per_pattern = dict(ev.group_by("pattern").len().iter_rows())
    delays = labels.filter("is_fraud").join(
        ev.select("transaction_id", "occurred_at"), on="transaction_id").with_columns(
        days=(pl.col("labelled_at") - pl.col("occurred_at")).dt.total_seconds() / 86_400,
        aml=pl.col("pattern").is_in(list(AML_PATTERNS)))
    fraud_days = delays.filter(~pl.col("aml"))["days"]
    aml_days = delays.filter("aml")["days"]
    return {
        "events": ev.height, "suspicious": int(ev["is_fraud"].sum()),
        "patterns": {p: int(per_pattern.get(p, 0)) for p in PATTERNS},
        "labels": labels.height,
        "fraud_label_delay_median_days": float(fraud_days.median() or float("nan")),
        "aml_label_delay_median_days": float(aml_days.median() or float("nan")),
        "currencies": ev["currency"].n_unique(),
        "first": ev["occurred_at"].min(), "last": ev["occurred_at"].max(),
    }


def run_history(lake_dir: Path, days: int, seed: int, customers: int, merchants: int,
                console: Console | None = None) -> dict:
    """Simulate ``days`` of history into ``lake_dir/history`` with progress and a summary."""
    console = console or Console(stderr=True)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        step = progress.add_task(f"simulating {days} days × {customers} customers", total=2)
        t0 = time.perf_counter()
        history = simulate_history(days, seed=seed, customers=customers, merchants=merchants)
        simulated = time.perf_counter() - t0
        progress.update(step, advance=1, description="writing Parquet to the lake")
        files = write_history(history, lake_dir)
        progress.update(step, advance=1)
    took = time.perf_counter() - t0
    facts = summary(history)
    table = Table(title=f"Simulated history → {history_dir(lake_dir)}")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("period", f"{facts['first']:%Y-%m-%d %H:%M} → {facts['last']:%Y-%m-%d %H:%M} UTC")
    table.add_row("events", f"{facts['events']:,}")
    for pattern, count in facts["patterns"].items():
        table.add_row(f"  {pattern}", f"{count:,}")
    table.add_row("suspicious share", f"{facts['suspicious'] / max(1, facts['events']):.2%}")
    table.add_row("labels known at the end", f"{facts['labels']:,}")
    table.add_row("label delay, fraud (median)", f"{facts['fraud_label_delay_median_days']:.1f} d")
    table.add_row("label delay, AML (median)", f"{facts['aml_label_delay_median_days']:.1f} d")
    table.add_row("currencies", str(facts["currencies"]))
    table.add_row("Parquet files", str(len(files)))
    table.add_row("time", f"{took:.1f} s ({facts['events'] / simulated:,.0f} events/s simulated)")
    console.print(table)
    log.info("wrote %d simulated events and %d labels to %s", facts["events"], facts["labels"],
             history_dir(lake_dir))
    return {**facts, "files": len(files), "seconds": took}


def bench_simulator(console: Console | None = None) -> list[dict]:
    """``flowlet bench simulator``: events/s of ``simulate_history`` and ``Simulator.generate``."""
    from datetime import UTC, datetime, timedelta

    from simulator.live import Simulator

    console = console or Console(stderr=True)
    rows = []
    for days, customers in ((30, 2000), (30, 5000), (30, 25_000)):
        t0 = time.perf_counter()
        events = simulate_history(days, seed=1, customers=customers).events.height
        took = time.perf_counter() - t0
        rows.append({"what": f"simulate_history {days} d × {customers:,} customers",
                     "events": events, "seconds": took})
    end = datetime(2026, 11, 1, tzinfo=UTC)
    t0 = time.perf_counter()
    n = len(Simulator(seed=1, n_accounts=1000).generate(20_000, end - timedelta(days=3), end))
    rows.append({"what": "Simulator.generate (validated objects)", "events": n,
                 "seconds": time.perf_counter() - t0})
    table = Table(title="Simulator throughput")
    for column in ("what", "events", "seconds", "events/s"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for r in rows:
        r["events_per_s"] = r["events"] / r["seconds"]
        table.add_row(r["what"], f"{r['events']:,}", f"{r['seconds']:.2f}",
                      f"{r['events_per_s']:,.0f}")
    console.print(table)
    return rows
