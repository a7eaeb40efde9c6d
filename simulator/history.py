"""``simulate_history``: a labelled event history, as frames, in seconds.

>>> h = simulate_history(days=3, seed=1, customers=150, merchants=30)
>>> h.events.columns[-2:], h.events["occurred_at"].is_sorted()
(['is_fraud', 'pattern'], True)
>>> h == simulate_history(days=3, seed=1, customers=150, merchants=30)
True
>>> from simulator.typologies import PATTERNS
>>> sorted(h.events["pattern"].drop_nulls().unique()) == sorted(PATTERNS)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from core.contract import LabelEvent, TransactionEvent
from simulator.followups import with_followups
from simulator.funding import funding_top_ups
from simulator.labels import LabelDelays, chargebacks, label_rows, labels_frame
from simulator.legit import legit_activity
from simulator.profiles import build_world
from simulator.rhythm import US
from simulator.rows import Scene, concat, finalize
from simulator.typologies import case_counts, typology_rows

#: Where histories end unless told otherwise (fixed, so a seed alone decides the history).
DEFAULT_END = datetime(2026, 11, 1, tzinfo=UTC)
DEFAULT_FRAUD_RATE = 0.01
DEFAULT_AML_RATE = 0.005
#: A label names its transaction's payee only for a P2P transfer (whose payee's network node
#: counted it), as ``features.online.stage_records`` routes the transaction.
_PAYEE = pl.when(pl.col("event_type") == "p2p_transfer").then(
    pl.col("counterparty_account_id")).alias("counterparty_account_id")


def merchants_for(customers: int) -> int:
    """The merchants of a world of ``customers`` as training and the acceptance bench size it:
    one per seven customers, at least 20.

    >>> merchants_for(2000), merchants_for(50)
    (285, 20)
    """
    return max(20, customers // 7)


@dataclass(frozen=True, eq=False)
class History:
    """Events (canonical columns + ``is_fraud``, ``pattern``) and the labels known at the end."""

    events: pl.DataFrame
    labels: pl.DataFrame

    def __eq__(self, other: object) -> bool:
        return isinstance(other, History) and self.events.equals(other.events) \
            and self.labels.equals(other.labels)

    __hash__ = None  # type: ignore[assignment]

    def transaction_events(self) -> list[TransactionEvent]:
        """The events as contract objects (validated), in time order."""
        frame = self.events.drop("is_fraud", "pattern")
        return [TransactionEvent.model_validate({k: v for k, v in row.items() if v is not None})
                for row in frame.iter_rows(named=True)]

    def feature_labels(self) -> pl.DataFrame:
        """The labels in the shape ``features.build_features`` takes (delayed-label features)."""
        about = self.events.select("transaction_id", "merchant_id", "device_id", _PAYEE,
                                   "occurred_at")
        return self.labels.join(about, on="transaction_id", how="left",
                                maintain_order="left").select(
            labelled_transaction_id="transaction_id", merchant_id="merchant_id",
            device_id="device_id", counterparty_account_id="counterparty_account_id",
            transaction_occurred_at="occurred_at", occurred_at="labelled_at",
            is_fraud="is_fraud")

    def label_events(self) -> list[LabelEvent]:
        """The labels as ``LabelEvent``s, in the order they became known."""
        about = self.events.select("transaction_id", "account_id", "merchant_id", "device_id",
                                   _PAYEE, "occurred_at")
        rows = self.labels.join(about, on="transaction_id", how="left", maintain_order="left")
        return [LabelEvent(
            label_id=f"label-{r['transaction_id']}", labelled_transaction_id=r["transaction_id"],
            account_id=r["account_id"], merchant_id=r["merchant_id"], device_id=r["device_id"],
            counterparty_account_id=r["counterparty_account_id"],
            transaction_occurred_at=r["occurred_at"], occurred_at=r["labelled_at"],
            is_fraud=r["is_fraud"], source=r["source"]) for r in rows.iter_rows(named=True)]


def simulate_history(days: int, seed: int = 0, end: datetime | None = None,
                     customers: int = 2000, merchants: int = 300,
                     fraud_rate: float = DEFAULT_FRAUD_RATE, aml_rate: float = DEFAULT_AML_RATE,
                     label_delays: LabelDelays | None = None) -> History:
    """``days`` of history ending at ``end`` (default :data:`DEFAULT_END`), deterministic in seed.

    ``fraud_rate`` and ``aml_rate`` are the approximate shares of fraud and AML-suspicious events
    (every typology appears at least once when its rate is positive).
    """
    end = DEFAULT_END if end is None else end
    if end.tzinfo is None:
        raise ValueError("end must be timezone-aware (UTC)")
    end_us = int(end.timestamp() * US)
    start_us = int((end - timedelta(days=days)).timestamp() * US)
    scene = Scene(build_world(seed, customers, merchants), np.random.default_rng(seed),
                  start_us, end_us)
    legit = with_followups(scene, legit_activity(scene))
    counts = case_counts(scene.rng, legit.height, fraud_rate, aml_rate, at_least_one=True)
    rows = concat([legit, *typology_rows(scene, counts)]).filter(
        pl.col("occurred_us").is_between(start_us, end_us, closed="left"))
    labels = label_rows(scene, rows, label_delays or LabelDelays(), end_us)
    rows = concat([rows, chargebacks(scene, rows, labels)])
    rows = concat([rows, funding_top_ups(scene, rows)])
    return History(finalize(rows, seed), labels_frame(labels, seed))
