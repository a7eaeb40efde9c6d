"""``flowlet bench alerts``: alert hits/s through ``CaseStore.record_alerts`` on SQLite (a fresh
file) and, with ``--db``, on PostgreSQL (a fresh schema, dropped afterwards).

The load, the same on each database: ``--events`` hits in batches of ``--batch`` (default 500),
as the worker records them, on ``events // 8`` accounts drawn at random, each hit's source
``model`` (70 %), ``rule:bench`` (20 %) or ``typology:bench`` (10 %) — so the early batches
open alerts and cases and the later ones mostly add hits to open alerts. The figure is hits
recorded per second, over all batches; a redelivery of every batch is timed too (it must add
nothing).
"""

from __future__ import annotations

import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

console = Console(stderr=True)
SOURCES = ("model", "rule:bench", "typology:bench")


def alert_batches(n_hits: int, batch: int, seed: int = 5) -> list[list[dict[str, Any]]]:
    """The load of the module doc, as the stream's alert records."""
    rng = np.random.default_rng(seed)
    accounts = rng.integers(0, max(1, n_hits // 8), n_hits).tolist()
    sources = rng.choice(len(SOURCES), n_hits, p=(0.7, 0.2, 0.1)).tolist()
    scores = (0.6 + 0.4 * rng.random(n_hits)).tolist()
    amounts = rng.integers(100, 500_000, n_hits).tolist()
    end = datetime.now(UTC)
    records = [{
        "transaction_id": f"bench-hit-{i:08d}", "source": SOURCES[s], "model_version": "bench/1",
        "account_id": f"acc-{a:06d}", "merchant_id": None, "score": float(sc),
        "amount_minor": int(am), "currency": "EUR",
        "occurred_at": end - timedelta(seconds=n_hits - i),
        "reason_codes": ["amount_log10:+0.41", "acct_count_1h:+0.22"]}
        for i, (a, s, sc, am) in enumerate(zip(accounts, sources, scores, amounts, strict=True))]
    return [records[i:i + batch] for i in range(0, n_hits, batch)]


def measure(url: str, batches: list[list[dict[str, Any]]]) -> dict[str, float]:
    """Hits/s of recording ``batches`` into a new store at ``url``, then of redelivering them."""
    from cases import CaseStore

    store = CaseStore(url)
    try:
        t0 = time.perf_counter()
        new = sum(store.record_alerts(b) for b in batches)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = sum(store.record_alerts(b) for b in batches)
        redelivered = time.perf_counter() - t0
        hits = sum(len(b) for b in batches)
        return {"hits": hits, "new": new, "redelivered_new": again,
                "open_alerts": len(store.alerts(limit=1_000_000)),
                "hits_per_s": hits / first, "redelivery_hits_per_s": hits / redelivered}
    finally:
        store.engine.dispose()


def run_alerts_bench(n_hits: int, batch: int, pg_url: str | None) -> dict[str, dict]:
    batches = alert_batches(n_hits, batch)
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        figures["sqlite"] = measure(f"sqlite:///{Path(tmp) / 'cases.db'}", batches)
    if pg_url:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(pg_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in pg_url else "?"
        try:
            figures["postgresql"] = measure(
                f"{pg_url}{sep}options=-csearch_path%3D{schema}", batches)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    table = Table(title=f"record_alerts: {n_hits:,} hits in batches of {batch}")
    for col in ("database", "hits/s", "redelivery hits/s", "open alerts", "new"):
        table.add_column(col, justify="right")
    for name, f in figures.items():
        table.add_row(name, f"{f['hits_per_s']:,.0f}", f"{f['redelivery_hits_per_s']:,.0f}",
                      f"{f['open_alerts']:,}", f"{f['new']:,}")
    console.print(table)
    return figures
