"""The effects of one micro-batch of feature-complete transactions: ledger → score → sink.

A batch's customer profile events come first: screened (``CustomerSource``), their alerts
recorded, then stored and rated (``CustomerRisk``); every alert carries its account's risk band.

:meth:`BatchProcessor.commit` posts to the ledger, scores and writes the lake: blocking I/O and
CPU work, run in a thread so the worker keeps heart-beating. Every effect is keyed by
``transaction_id``: the ledger and the lake deduplicate in the database, and the feature stages
answer a redelivered transaction with the vector it got the first time, so its score is the
same too (unless the champion was swapped in between; the lake keeps the first row). A batch is
scored by one model version (:class:`Scorer`), which every lake row and alert names.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError

from cases import CaseStore
from core.contract import CustomerEvent, LabelEvent, TransactionEvent, find_pan, redact_pans
from core.settings import Settings
from features import FEATURE_NAMES, events_frame, with_event_features
from features.definitions import EVENT_FEATURES
from ledger import Ledger
from models.serving.batch import ScoredBatch
from streams.rows import alert, lake_rows
from streams.sink import LabelSink, LakeSink

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawRecord:
    """A record as consumed: bytes plus where it came from (for dead-letter headers)."""

    value: bytes
    key: bytes | None = None
    topic: str = ""
    partition: int = -1
    offset: int = -1


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    reason: str


class Scorer(Protocol):
    """What the effects need from a model (``models.serving.scorer.Scorer``,
    ``testing.RuleScorer``).

    ``score`` scores a whole micro-batch with one model version and says which rows alert
    (by the model's own threshold); ``stats`` is for the worker's stats page.
    """

    def score(self, features: pd.DataFrame) -> ScoredBatch: ...

    def stats(self) -> dict[str, Any]: ...


class AlertSource(Protocol):
    """Raises alerts beyond the model's on a scored batch: rules, typology detectors, screening.

    ``evaluate`` gets the batch's events, its feature frame (the model's inputs, one row per
    event) and its lake rows (scores and ledger status included) and returns alert records
    shaped like :func:`alert` with its own ``source`` (e.g. ``rule:<id>``,
    ``typology:structuring``) and ``model_version`` (the rule's or detector's version). It must
    be deterministic for a redelivered batch: the alert store is idempotent per
    (transaction, source), so a repeat adds nothing.
    """

    def evaluate(self, events: Sequence[TransactionEvent], features: pd.DataFrame,
                 rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]: ...


class CustomerSource(Protocol):
    """Acts on a batch's customer profile events (screening at onboarding, KYC updates):
    returns alert records shaped like :func:`alert`; deterministic for a redelivery."""

    def on_customers(self, customers: Sequence[CustomerEvent]) -> list[dict[str, Any]]: ...


class CustomerRisk(Protocol):
    """The customers' profiles and risk ratings (``customers.CustomerBook``).

    ``apply`` stores profile events (idempotent by event id) and re-rates their accounts;
    ``observe`` re-rates the batch's accounts from their new feature values; ``bands`` gives
    the accounts' risk bands, which every alert carries (``customer_risk``) into its priority;
    ``bands_after`` the bands the profile events will give, before they are stored.
    """

    def apply(self, customers: Sequence[CustomerEvent]) -> int: ...

    def observe(self, events: Sequence[TransactionEvent],
                vectors: Sequence[dict[str, float]]) -> int: ...

    def bands(self, accounts: Sequence[str]) -> dict[str, str]: ...

    def bands_after(self, customers: Sequence[CustomerEvent]) -> dict[str, str]: ...


@dataclass
class PreparedBatch:
    events: list[TransactionEvent] = field(default_factory=list)
    vectors: list[dict[str, float]] = field(default_factory=list)
    records: list[RawRecord] = field(default_factory=list)  # parallel to events
    dead_letters: list[DeadLetter] = field(default_factory=list)
    in_batch_duplicates: int = 0
    labels: list[LabelEvent] = field(default_factory=list)  # applied to the features
    customers: list[CustomerEvent] = field(default_factory=list)  # profile (KYC) events
    customer_records: list[RawRecord] = field(default_factory=list)  # parallel to customers


@dataclass
class BatchOutcome:
    posted: int = 0
    rejected: int = 0
    duplicates: int = 0
    lake_rows: int = 0
    labels_written: int = 0  # new label rows in the lake
    customers: int = 0  # new customer profile events stored
    alerts: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    #: Rows scored per model (``name/version``), for the worker's stats.
    scored_by: dict[str, int] = field(default_factory=dict)

    def add(self, other: BatchOutcome) -> None:
        """Fold another outcome into this one (dead letters included)."""
        self.posted += other.posted
        self.rejected += other.rejected
        self.duplicates += other.duplicates
        self.lake_rows += other.lake_rows
        self.labels_written += other.labels_written
        self.customers += other.customers
        self.alerts += other.alerts
        self.dead_letters += other.dead_letters
        self.rows += other.rows
        for model, n in other.scored_by.items():
            self.scored_by[model] = self.scored_by.get(model, 0) + n


#: Errors worth retrying: the database (or its connection) is briefly unavailable.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


class FatalPipelineError(RuntimeError):
    """A batch cannot be completed now; stop without acknowledging it (it is redelivered)."""


def dead_letter(record: RawRecord, exc: Exception) -> DeadLetter:
    if isinstance(exc, ValidationError):
        reason = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<event>'}: {e['msg']}" for e in exc.errors()
        )
    else:
        reason = f"{type(exc).__name__}: {exc}"
    headers = [
        ("error.class", type(exc).__name__.encode()),
        ("error.message", reason.encode()[:4000]),
        ("source.topic", record.topic.encode()),
        ("source.partition", str(record.partition).encode()),
        ("source.offset", str(record.offset).encode()),
    ]
    # Nothing lost, but no card number kept: a record carrying one keeps its other bytes.
    value = record.value
    if value and find_pan(value.decode("utf-8", "replace")) is not None:
        value = redact_pans(value.decode("utf-8", "replace")).encode()
    key = record.key
    if key and find_pan(key.decode("utf-8", "replace")) is not None:
        key = redact_pans(key.decode("utf-8", "replace")).encode()
    return DeadLetter(key, value, headers, reason)


class BatchProcessor:
    def __init__(self, settings: Settings, ledger: Ledger, scorer: Scorer,
                 sink: LakeSink, cases: CaseStore | None = None,
                 labels: LabelSink | None = None,
                 alert_sources: Sequence[AlertSource] = (),
                 customer_sources: Sequence[CustomerSource] = (),
                 customers: CustomerRisk | None = None) -> None:
        self.settings = settings
        self.ledger = ledger
        self.scorer = scorer
        self.sink = sink
        #: The workbench's alert store (de-duplicated per account and source); None: alerts go
        #: to the topic only.
        self.cases = cases
        #: Where applied labels land in the lake (``lake/labels``); None: features only.
        self.labels = labels
        #: Rules, typology detectors, screening: their alerts join the model's.
        self.alert_sources = list(alert_sources)
        #: Screening at onboarding and KYC updates: their alerts join the batch's.
        self.customer_sources = list(customer_sources)
        #: Profiles and risk ratings; None: customer events are parsed and not stored.
        self.customers = customers

    def commit_resilient(self, batch: PreparedBatch, retries: int = 5,
                         backoff_seconds: float = 0.5) -> BatchOutcome:
        """:meth:`commit`, surviving what can be survived.

        Transient database errors are retried with backoff; if they persist,
        :class:`FatalPipelineError` tells the worker to stop *without* acknowledging the
        batch, so it is redelivered. Any other error is blamed on the input: the batch is
        committed event by event and the events that still fail are dead-lettered with the
        error, so one poison event neither blocks the partition nor takes the batch with it.
        """
        for attempt in range(retries):
            try:
                return self.commit(batch)
            except TRANSIENT_ERRORS as exc:
                log.warning("batch commit failed (%s); retry %d/%d", exc, attempt + 1, retries)
                time.sleep(backoff_seconds * 2**attempt)
            except Exception:
                log.exception("batch commit failed; isolating the events that break it")
                return self._commit_one_by_one(batch)
        raise FatalPipelineError(f"database still failing after {retries} attempts")

    def _commit_one_by_one(self, batch: PreparedBatch) -> BatchOutcome:
        total = BatchOutcome(dead_letters=list(batch.dead_letters),
                             duplicates=batch.in_batch_duplicates)
        for customer, record in zip(batch.customers, batch.customer_records, strict=True):
            try:
                total.add(self.commit(PreparedBatch(customers=[customer],
                                                    customer_records=[record])))
            except TRANSIENT_ERRORS as exc:
                raise FatalPipelineError(f"database failing: {exc}") from exc
            except Exception as exc:
                total.dead_letters.append(dead_letter(record, exc))
        for ev, vector, record in zip(batch.events, batch.vectors, batch.records, strict=True):
            try:
                out = self.commit(PreparedBatch([ev], [vector], [record]))
            except TRANSIENT_ERRORS as exc:
                raise FatalPipelineError(f"database failing: {exc}") from exc
            except Exception as exc:
                total.dead_letters.append(dead_letter(record, exc))
                continue
            total.add(out)
        return total

    def commit(self, batch: PreparedBatch) -> BatchOutcome:
        outcome = BatchOutcome(dead_letters=list(batch.dead_letters),
                               duplicates=batch.in_batch_duplicates)
        if self.labels is not None and batch.labels:
            outcome.labels_written = self.labels.write(batch.labels, datetime.now(UTC))
        if batch.customers:  # before the transactions: a new profile rates their alerts
            self._commit_customers(batch.customers, outcome)
        if not batch.events:
            return outcome
        # One database transaction, on the hash chain of the batch's lowest source partition:
        # workers own different partitions, so they post on different chains.
        results = self.ledger.post_batch(batch.events, shard=ledger_shard(batch.records))
        # For a redelivery the ledger returns the original decision (posted or rejected).
        ledger_result = {r.transaction_id: r for r in results}
        outcome.posted = sum(r.status == "posted" for r in results)
        outcome.rejected = sum(r.status == "rejected" for r in results)
        outcome.duplicates += sum(r.status == "duplicate" for r in results)

        frame = with_event_features(events_frame(batch.events))
        window = vectors_frame(batch.vectors)
        feats = pd.concat(
            [frame.select([f.name for f in EVENT_FEATURES]).to_pandas(), window], axis=1
        )[list(FEATURE_NAMES)]
        scored = self.scorer.score(feats)  # one model version for the whole batch
        now = datetime.now(UTC)
        rows = lake_rows(batch.events, batch.vectors, scored,
                         [ledger_result[ev.transaction_id] for ev in batch.events], now,
                         batch.records or None)
        alerts = [alert(row, scored.alert_threshold, now) for row in rows if row["is_alert"]]
        for source in self.alert_sources:
            alerts += source.evaluate(batch.events, feats, rows)
        if self.customers is not None:
            self.customers.observe(batch.events, batch.vectors)
            self._stamp_risk(alerts)
        outcome.scored_by[scored.model_ref] = len(rows)
        if self.cases is not None and alerts:
            # Before the lake, the last effect: a lake row means its alert is stored too.
            # Idempotent by (transaction, source): a redelivered batch adds nothing.
            self.cases.record_alerts(alerts)
        outcome.alerts += alerts  # after the batch's customer profiles' own
        outcome.lake_rows = self.sink.write(rows)
        outcome.rows = rows
        return outcome

    def _commit_customers(self, customers: list[CustomerEvent], outcome: BatchOutcome) -> None:
        """Screen the profiles and record their alerts (stamped with the rating the profiles
        give), then store and rate the profiles — the last effect, which the API's relay takes
        for "processed": a stored profile's alerts are stored too."""
        alerts = [a for source in self.customer_sources for a in source.on_customers(customers)]
        if self.customers is not None and alerts:
            bands = self.customers.bands_after(customers)
            for a in alerts:
                a["customer_risk"] = bands.get(a["account_id"])
        if self.cases is not None and alerts:
            self.cases.record_alerts(alerts)
        if self.customers is not None:
            outcome.customers = self.customers.apply(customers)
        outcome.alerts += alerts

    def _stamp_risk(self, alerts: list[dict[str, Any]]) -> None:
        """Each alert carries its customer's risk band (``customer_risk``), for priority."""
        if self.customers is None or not alerts:
            return
        bands = self.customers.bands(sorted({a["account_id"] for a in alerts}))
        for a in alerts:
            a["customer_risk"] = bands.get(a["account_id"])


def vectors_frame(vectors: Sequence[dict[str, float]]) -> pd.DataFrame:
    """The batch's feature vectors as a frame, one column per feature.

    Vectors built by ``features.online.assemble`` share one key order: their values then go
    through one float matrix, ~3× faster than pandas reading a list of dicts; any other mix of
    keys is left to pandas.

    >>> vectors_frame([{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": float("nan")}]).to_dict("list")
    {'a': [1.0, 3.0], 'b': [2.0, nan]}
    """
    keys = tuple(vectors[0]) if vectors else ()
    if not keys or any(tuple(v) != keys for v in vectors):
        return pd.DataFrame(list(vectors))
    matrix = np.array([list(v.values()) for v in vectors], dtype=np.float64)
    return pd.DataFrame(matrix, columns=list(keys))


def ledger_shard(records: Sequence[RawRecord]) -> int:
    """The ledger shard a batch posts on: its lowest source partition (0 outside Kafka).

    >>> ledger_shard([RawRecord(b"", partition=3), RawRecord(b"", partition=1)])
    1
    """
    partitions = [r.partition for r in records if r.partition >= 0]
    return min(partitions) if partitions else 0
