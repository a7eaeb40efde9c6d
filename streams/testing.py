"""Test doubles shipped with the code: run any batch through the whole pipeline in one call.

>>> from datetime import UTC, datetime
>>> from models.simulator import Simulator
>>> txs = Simulator(seed=3, n_accounts=10, n_merchants=3).generate(
...     50, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
>>> import tempfile; tmp = tempfile.mkdtemp()
>>> out = run_pipeline([t.event for t in txs] + [txs[0].event], data_dir=tmp)
>>> out.posted + out.rejected, out.lake_rows
(50, 50)
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from features import InMemoryWindowStore, WindowFeatureComputer
from flowlet.contract import TransactionEvent
from flowlet.settings import Settings
from ledger import Ledger
from streams.pipeline import BatchOutcome, BatchProcessor, InMemoryVectorCache, RawRecord
from streams.sink import LakeSink


class RuleScorer:
    """A transparent stand-in model: risk grows with amount and 1 h velocity."""

    model_version = "rules/1"

    def score(self, features: pd.DataFrame) -> np.ndarray:
        raw = 0.15 * features["amount_log10"] + 0.05 * features["acct_tx_count_1h"]
        return np.clip(raw.to_numpy(dtype=np.float64) / 1.5, 0.0, 1.0)


def in_memory_processor(settings: Settings, scorer: object | None = None) -> BatchProcessor:
    ledger = Ledger.from_url(settings.database_url)
    return BatchProcessor(
        settings, ledger, scorer or RuleScorer(), LakeSink(settings.lake_dir, ledger.engine),
        WindowFeatureComputer(InMemoryWindowStore()), InMemoryVectorCache(),
    )


def run_pipeline(events: Iterable[TransactionEvent | bytes], data_dir: str | Path,
                 scorer: object | None = None, batch_size: int = 500) -> BatchOutcome:
    """Push events (models or raw JSON bytes) through every stage; return the summed outcome."""
    settings = Settings(data_dir=Path(data_dir))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    proc = in_memory_processor(settings, scorer)
    records = [
        RawRecord(e if isinstance(e, bytes) else e.model_dump_json().encode(), offset=i)
        for i, e in enumerate(events)
    ]
    total = BatchOutcome()
    for start in range(0, len(records), batch_size):
        total.add(proc.commit(proc.prepare(records[start:start + batch_size])))
    return total
