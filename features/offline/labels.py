"""The labels ``build_features`` takes: canonical training labels or the stream's label events.

Two shapes are accepted:

* **canonical** (``models.training.data``'s label schema): ``transaction_id``, ``is_fraud``,
  ``labelled_at`` (optional ``pattern``, ``source``, ignored here). Each label is joined to the
  first row of its transaction in ``events`` for its merchant, device, payee (P2P transfers
  only) and time — what a ``core.contract.LabelEvent`` carries on the stream
  (``core.contract.label_for``). Labels of transactions not among the events are dropped
  (logged): no entity to charge them to.
* **label events** (``core.contract.LabelEvent`` fields): ``labelled_transaction_id``,
  ``merchant_id``, ``transaction_occurred_at``, ``occurred_at`` (when the label became known),
  ``is_fraud``, optionally ``device_id`` and ``counterparty_account_id`` (missing: the label
  reaches no device / payee, as on the stream); used as they are.

>>> from datetime import UTC, datetime
>>> t = datetime(2026, 1, 1, tzinfo=UTC)
>>> ev = pl.DataFrame({"transaction_id": ["a"], "merchant_id": ["m"], "occurred_at": [t]})
>>> lab = pl.DataFrame({"transaction_id": ["a", "zz"], "is_fraud": [True, True],
...                     "labelled_at": [t, t]})
>>> ev = ev.with_columns(event_type=pl.lit("p2p_transfer"), device_id=pl.lit("d"),
...                      counterparty_account_id=pl.lit("b"))
>>> label_events(ev, lab).drop("transaction_occurred_at", "occurred_at").rows()
[('a', 'm', True, 'd', 'b')]
"""

from __future__ import annotations

import logging

import polars as pl

log = logging.getLogger(__name__)

EVENT_LABEL_COLUMNS = ("labelled_transaction_id", "merchant_id", "transaction_occurred_at",
                       "occurred_at", "is_fraud")
CANONICAL_LABEL_COLUMNS = ("transaction_id", "is_fraud", "labelled_at")
#: The entities a label event may name besides its merchant (absent: it reaches none).
ROUTED_LABEL_COLUMNS = ("device_id", "counterparty_account_id")


def label_events(events: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """``labels`` (either shape) as label events, sorted by when they became known (stable).

    Raises ``ValueError`` naming the missing columns when ``labels`` is neither shape."""
    if all(c in labels.columns for c in EVENT_LABEL_COLUMNS):
        return labels.with_columns(pl.lit(None, pl.String).alias(c)
                                   for c in ROUTED_LABEL_COLUMNS if c not in labels.columns)
    missing = [c for c in CANONICAL_LABEL_COLUMNS if c not in labels.columns]
    if missing:
        raise ValueError(
            "labels must be canonical (" + ", ".join(CANONICAL_LABEL_COLUMNS) + ") or label "
            "events (" + ", ".join(EVENT_LABEL_COLUMNS) + "); missing canonical column(s): "
            + ", ".join(missing))
    _require_aware(labels, "labelled_at")
    def column(name: str) -> pl.Expr:  # an events frame without it names no such entity
        return pl.col(name) if name in events.columns else pl.lit(None, pl.String)

    payee = pl.when(column("event_type") == "p2p_transfer").then(
        column("counterparty_account_id"))
    about = (events.select("transaction_id", column("merchant_id").alias("merchant_id"),
                           column("device_id").alias("device_id"),
                           payee.alias("counterparty_account_id"), "occurred_at")
             .unique("transaction_id", keep="first", maintain_order=True)
             .with_columns(pl.col("transaction_id").cast(pl.String)))
    joined = labels.with_columns(pl.col("transaction_id").cast(pl.String)).join(
        about, on="transaction_id", how="left", maintain_order="left")
    unknown = joined["occurred_at"].null_count()
    if unknown:
        log.warning("%d of %d labels name transactions not among the events: they reach no "
                    "entity's fraud rate", unknown, labels.height)
    return joined.filter(pl.col("occurred_at").is_not_null()).select(
        pl.col("transaction_id").alias("labelled_transaction_id"),
        pl.col("merchant_id").cast(pl.String),
        pl.col("occurred_at").alias("transaction_occurred_at"),
        pl.col("labelled_at").dt.convert_time_zone("UTC").alias("occurred_at"),
        pl.col("is_fraud").cast(pl.Boolean),
        pl.col("device_id").cast(pl.String),
        pl.col("counterparty_account_id").cast(pl.String),
    ).sort("occurred_at", maintain_order=True)


def _require_aware(frame: pl.DataFrame, column: str) -> None:
    dtype = frame.schema[column]
    if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
        raise ValueError(f"labels' {column} must be a timezone-aware datetime, got {dtype}")
