"""Training data in: canonical events plus delayed labels, from Parquet or a DataFrame.

**Events** — one row per transaction, the canonical columns of ``features.frames.EVENT_SCHEMA``:

==========================  ===========================  =====================================
column                      type                         required
==========================  ===========================  =====================================
``transaction_id``          String                       yes (later duplicates are dropped)
``event_type``              String (contract enum)       yes
``occurred_at``             Datetime, timezone-aware     yes (converted to UTC; naive rejected)
``amount_minor``            Int64, minor units           yes
``currency``                String, ISO 4217             yes
``account_id``              String                       yes
``counterparty_account_id`` ``merchant_id`` ``mcc`` ``card_token`` ``device_id`` ``ip_address``
``country`` ``channel`` ``target_currency`` ``original_transaction_id`` (String) and
``target_amount_minor`` ``fee_minor`` (Int64): optional, filled with nulls when absent.
==========================  ===========================  =====================================

Other columns (e.g. a simulator's ``is_fraud``/``pattern`` ground truth) are kept but never used
as model inputs. Rows are put in ``occurred_at`` order (stable), the arrival order the offline
features assume.

**Labels** — zero or more rows per transaction:

``transaction_id`` (String, required), ``is_fraud`` (Boolean, required), ``labelled_at``
(Datetime, timezone-aware, required: when the label became known — analyst decision or
chargeback), ``pattern`` (String, optional typology). When a transaction has several labels the
latest known one wins (relabelling). Unlabelled transactions count as legitimate.

**Label delay.** :func:`labels_as_of` joins labels as of a cutoff: a label counts only if
``labelled_at <= cutoff``. Training uses the split's cutoff (``models.splits``), so a model never
learns from a label it could not have known when it was trained.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import polars as pl

from features.frames import EVENT_SCHEMA, events_frame

log = logging.getLogger(__name__)

REQUIRED_EVENT_COLUMNS = ("transaction_id", "event_type", "occurred_at", "amount_minor",
                          "currency", "account_id")
LABEL_SCHEMA: dict[str, pl.DataType] = {
    "transaction_id": pl.String(),
    "is_fraud": pl.Boolean(),
    "pattern": pl.String(),
    "labelled_at": pl.Datetime("us", "UTC"),
}
REQUIRED_LABEL_COLUMNS = ("transaction_id", "is_fraud", "labelled_at")

Source = str | Path | pl.DataFrame | pd.DataFrame


@dataclass(frozen=True)
class History:
    """Events (canonical columns, maybe ground truth) and the labels known about them."""

    events: pl.DataFrame
    labels: pl.DataFrame


def _frame(source: Source) -> pl.DataFrame:
    if isinstance(source, pl.DataFrame):
        return source
    if isinstance(source, pd.DataFrame):
        return pl.from_pandas(source)
    return pl.read_parquet(Path(source))


def _utc(frame: pl.DataFrame, column: str) -> pl.Expr:
    dtype = frame.schema[column]
    if not isinstance(dtype, pl.Datetime):
        raise ValueError(f"{column} must be a timezone-aware datetime, got {dtype}")
    if dtype.time_zone is None:
        raise ValueError(f"{column} is a naive datetime; give it a timezone (UTC)")
    return pl.col(column).dt.convert_time_zone("UTC").dt.cast_time_unit("us")


def _require(frame: pl.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lack required column(s): {', '.join(missing)}")
    nulls = [c for c in columns if frame[c].null_count()]
    if nulls:
        raise ValueError(f"{what} have nulls in required column(s): {', '.join(nulls)}")


def load_events(source: Source) -> pl.DataFrame:
    """Validated canonical events from a Parquet path or a polars/pandas frame."""
    frame = _frame(source)
    _require(frame, REQUIRED_EVENT_COLUMNS, "events")
    cols = []
    for name, dtype in EVENT_SCHEMA.items():
        if name == "occurred_at":
            cols.append(_utc(frame, name))
        elif name in frame.columns:
            cols.append(pl.col(name).cast(dtype))
        else:
            cols.append(pl.lit(None, dtype).alias(name))
    extra = [c for c in frame.columns if c not in EVENT_SCHEMA]
    out = frame.select(*cols, *extra).sort("occurred_at", maintain_order=True)
    first = out["transaction_id"].is_first_distinct()
    if not first.all():
        log.warning("dropping %d duplicate transaction_id rows", int((~first).sum()))
        out = out.filter(first)
    return out


def load_labels(source: Source) -> pl.DataFrame:
    """Validated labels (``LABEL_SCHEMA``) from a Parquet path or a polars/pandas frame."""
    frame = _frame(source)
    _require(frame, REQUIRED_LABEL_COLUMNS, "labels")
    return frame.select(
        pl.col("transaction_id").cast(pl.String),
        pl.col("is_fraud").cast(pl.Boolean),
        (pl.col("pattern").cast(pl.String) if "pattern" in frame.columns
         else pl.lit(None, pl.String).alias("pattern")),
        _utc(frame, "labelled_at"),
    ).sort("labelled_at", maintain_order=True)


def labels_as_of(events: pl.DataFrame, labels: pl.DataFrame,
                 cutoff: datetime | None = None) -> pl.DataFrame:
    """Per event (in ``events`` order): ``label`` (Boolean) and ``labelled`` (a label was known).

    Only labels with ``labelled_at <= cutoff`` count (all of them when ``cutoff`` is None);
    per transaction the latest of those wins. Unlabelled events get ``label = False``.

    >>> ev = pl.DataFrame({"transaction_id": ["a", "b", "c"]})
    >>> t = lambda d: datetime(2026, 1, d, tzinfo=UTC)
    >>> lab = pl.DataFrame({"transaction_id": ["a", "b", "b"], "is_fraud": [True, True, False],
    ...                     "labelled_at": [t(5), t(2), t(9)]})
    >>> labels_as_of(ev, lab, t(6))["label"].to_list(), labels_as_of(ev, lab)["label"].to_list()
    ([True, True, False], [True, False, False])
    """
    known = labels if cutoff is None else labels.filter(pl.col("labelled_at") <= cutoff)
    latest = (known.sort("labelled_at", maintain_order=True)
              .group_by("transaction_id", maintain_order=True).last()
              .select("transaction_id", pl.col("is_fraud").alias("label"),
                      pl.lit(True).alias("labelled")))
    joined = events.select("transaction_id").join(latest, on="transaction_id", how="left",
                                                   maintain_order="left")
    return joined.select(pl.col("label").fill_null(False), pl.col("labelled").fill_null(False))


def feature_labels(events: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """Labels in the shape ``features.build_features`` takes for delayed-label features.

    The builder itself keeps them point-in-time correct (a label counts for an event only if it
    was known at the event's time).
    """
    return labels.join(
        events.select("transaction_id", "merchant_id", "occurred_at"), on="transaction_id",
        how="inner", maintain_order="left",
    ).select(
        pl.col("transaction_id").alias("labelled_transaction_id"), "merchant_id",
        pl.col("occurred_at").alias("transaction_occurred_at"),
        pl.col("labelled_at").alias("occurred_at"), "is_fraud",
    ).sort("occurred_at", maintain_order=True)


def history_from_simulator(days: int, seed: int = 0, end: datetime | None = None,
                           customers: int = 2000, merchants: int = 300,
                           n_events: int | None = None,
                           fraud_share: float = 0.03) -> History:
    """Simulated history in the canonical schema (adapter over ``models.simulator``).

    ``events`` carries ground truth (``is_fraud`` Boolean, ``pattern`` String); ``labels`` are
    the delayed labels of ``models.simulator.label_events`` (analyst 1–5 days, chargeback 10–40
    days after the transaction; a few legitimate ones cleared by analysts). ``n_events``
    defaults to one per customer and day. Deterministic under ``seed`` and ``end``.
    """
    from models.simulator import Simulator, label_events

    end = end or datetime.now(UTC)
    n = n_events or days * customers
    sim = Simulator(seed=seed, n_accounts=customers, n_merchants=merchants,
                    fraud_share=fraud_share)
    txs = sim.generate(n, end - timedelta(days=days), end)
    events = events_frame([t.event for t in txs]).with_columns(
        pl.Series("is_fraud", [t.is_fraud for t in txs], dtype=pl.Boolean),
        pl.Series("pattern", [t.pattern for t in txs], dtype=pl.String),
    )
    pattern = dict(zip(events["transaction_id"].to_list(), events["pattern"].to_list(),
                       strict=True))
    labs = label_events(txs, seed=seed)
    labels = pl.DataFrame(
        {"transaction_id": [lab.labelled_transaction_id for lab in labs],
         "is_fraud": [lab.is_fraud for lab in labs],
         "pattern": [pattern[lab.labelled_transaction_id] for lab in labs],
         "labelled_at": [lab.occurred_at for lab in labs]},
        schema=LABEL_SCHEMA,
    )
    return History(events, labels)
