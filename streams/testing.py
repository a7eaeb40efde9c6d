"""Test doubles shipped with the code: run any batch through the whole pipeline in one call.

>>> from datetime import UTC, datetime
>>> from simulator import Simulator
>>> txs = Simulator(seed=3, n_accounts=10, n_merchants=3).generate(
...     50, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
>>> import tempfile; tmp = tempfile.mkdtemp()
>>> out = run_pipeline([t.event for t in txs] + [txs[0].event], data_dir=tmp)
>>> out.posted + out.rejected, out.lake_rows
(50, 50)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cases import CaseStore
from core.contract import CustomerEvent, LabelEvent, TransactionEvent
from core.settings import Settings
from customers import CustomerBook
from detectors import typology_detectors
from features.online import OnlineFeatures
from ledger import Ledger
from models.serving.batch import ScoredBatch, reasons_for
from rules import RuleAlerts, RuleStore
from rules.customers import customer_lookup
from screening import ScreeningSource
from streams.pipeline import BatchOutcome, BatchProcessor, PreparedBatch, RawRecord
from streams.sink import LabelSink, LakeSink
from streams.stages import featurize, parse_batch


class RuleScorer:
    """A transparent stand-in model: risk grows with amount and 1 h velocity.

    Honours the scorer interface (``streams.pipeline.Scorer``): the two terms are its
    contributions, so alerts carry reason codes like the real model's.
    """

    model_name, version = "rules", "1"
    model_version = "rules/1"
    feature_names = ("amount_log10", "acct_count_1h")
    weights = np.array([0.15, 0.05]) / 1.5

    def __init__(self, alert_threshold: float = 0.5, reason_codes_top_k: int = 3) -> None:
        self.alert_threshold = alert_threshold
        self.top_k = reason_codes_top_k
        self.batches = 0

    def score(self, features: pd.DataFrame) -> ScoredBatch:
        contributions = (features[list(self.feature_names)].to_numpy(dtype=np.float64)
                         * self.weights)
        score = np.clip(contributions.sum(axis=1), 0.0, 1.0)
        self.batches += 1
        return ScoredBatch(
            self.model_name, self.version, self.alert_threshold, score, score,
            np.full(len(score), np.nan),
            reasons_for(score, self.alert_threshold, lambda mask: contributions[mask],
                        self.feature_names, self.top_k),
        )

    def stats(self) -> dict[str, Any]:
        return {"model": self.model_version, "batches": self.batches}


def in_memory_processor(settings: Settings, scorer: object | None = None) -> BatchProcessor:
    ledger = Ledger.from_url(settings.database_url)
    screening = ScreeningSource(ledger.engine, settings.screening_threshold)
    return BatchProcessor(settings, ledger, scorer or RuleScorer(settings.alert_threshold),
                          LakeSink(settings.lake_dir, ledger.engine), CaseStore(ledger.engine),
                          LabelSink(settings.lake_dir, ledger.engine),
                          alert_sources=[screening, RuleAlerts(RuleStore(ledger.engine),
                                                    customers=customer_lookup(ledger.engine)),
                                         typology_detectors(settings)],
                          customer_sources=[screening], customers=CustomerBook(ledger.engine))


class InMemoryFeatures(OnlineFeatures):
    """The worker's parse and feature step (``streams.stages``) over :class:`OnlineFeatures`'
    dict states: the stream's path without Kafka or a database."""

    def run(self, records: Sequence[RawRecord], processed_at: float = 0.0) -> PreparedBatch:
        """``processed_at`` stamps the applied marks, as :meth:`OnlineFeatures.process`."""
        return featurize(parse_batch(records), self.lookup, processed_at).batch


def run_pipeline(events: Iterable[TransactionEvent | LabelEvent | CustomerEvent | bytes],
                 data_dir: str | Path, scorer: object | None = None,
                 batch_size: int = 500) -> BatchOutcome:
    """Push events (models or raw JSON bytes) through every stage; return the summed outcome."""
    settings = Settings(data_dir=Path(data_dir))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    proc = in_memory_processor(settings, scorer)
    features = InMemoryFeatures()
    records = [
        RawRecord(e if isinstance(e, bytes) else e.model_dump_json().encode(), offset=i)
        for i, e in enumerate(events)
    ]
    total = BatchOutcome()
    for start in range(0, len(records), batch_size):
        total.add(proc.commit(features.run(records[start:start + batch_size])))
    return total
