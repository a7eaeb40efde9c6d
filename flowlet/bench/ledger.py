"""``flowlet bench ledger``: postings/s on SQLite (and PostgreSQL), by batch size."""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.table import Table

console = Console(stderr=True)


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
