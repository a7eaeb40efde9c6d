"""Training data in: canonical events plus delayed labels, from Parquet or a DataFrame.

**Events** — one row per transaction, the canonical columns of ``core.frames.EVENT_SCHEMA``:

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

Events are checked against the event contract over the whole frame
(``models.training.validate``): amounts > 0, known ``event_type``/``channel``, ISO currencies,
a ``country`` whose time zone the features know, the type-specific fields. Any broken rule raises
a ``ContractError`` naming each field, its rows (input positions from 0, and
``transaction_id``) and the offending values — nothing is dropped or mapped silently. A null
``country`` is allowed and logged (local-time features then use UTC for accounts whose first
event has none).

**Labels** — zero or more rows per transaction:

``transaction_id`` (String, required), ``is_fraud`` (Boolean, required), ``labelled_at``
(Datetime, timezone-aware, required: when the label became known — analyst decision or
chargeback), ``pattern`` (String, optional typology), ``source`` (String, optional: who said so,
e.g. the simulator's ``analyst`` | ``chargeback``). Other columns are kept, never used. When a
transaction has several labels the latest known one wins (relabelling). Unlabelled transactions
count as legitimate.

**Sources.** A Parquet file, a folder of Parquet files (read recursively, e.g. the lake layout
``flowlet simulate --days N`` writes: ``lake/history/events/dt=*/part-0.parquet``; partition
columns stay in the path) or a polars/pandas frame. :func:`history_from_simulator` simulates one
(``simulator.simulate_history``); :func:`backtest_labels` adds the eventual truth of a
simulated history for evaluation.

**Label delay.** :func:`labels_as_of` joins labels as of a cutoff: a label counts only if
``labelled_at <= cutoff``. Training uses the split's cutoff (``models.training.splits``), so a
model never learns from a label it could not have known when it was trained.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta  # noqa: F401  (UTC: doctests)
from pathlib import Path

import pandas as pd
import polars as pl

from core.frames import EVENT_SCHEMA
from features.offline import label_events
from models.training.validate import (
    ROW,
    ContractError,
    check,
    event_rules,
    required_nulls,
    whole_amounts,
)
from simulator.history import History, simulate_history
from simulator.labels import LabelDelays

log = logging.getLogger(__name__)

REQUIRED_EVENT_COLUMNS = ("transaction_id", "event_type", "occurred_at", "amount_minor",
                          "currency", "account_id")
LABEL_SCHEMA: dict[str, pl.DataType] = {
    "transaction_id": pl.String(),
    "is_fraud": pl.Boolean(),
    "pattern": pl.String(),
    "labelled_at": pl.Datetime("us", "UTC"),
    "source": pl.String(),
}
REQUIRED_LABEL_COLUMNS = ("transaction_id", "is_fraud", "labelled_at")

Source = str | Path | pl.DataFrame | pd.DataFrame

__all__ = ["LABEL_SCHEMA", "ContractError", "History", "Source", "backtest_labels",
           "feature_labels", "history_from_simulator", "labels_as_of", "load_events", "load_labels",
           "read_parquet"]


def read_parquet(path: str | Path) -> pl.DataFrame:
    """One Parquet file, or every ``*.parquet`` under a folder (recursively, in path order).

    Hive partition columns (``dt=…`` folders) are not added: they live in the path only.
    """
    path = Path(path)
    if not path.is_dir():
        return pl.read_parquet(path)
    files = sorted(path.rglob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no Parquet files under {path}")
    return pl.concat([pl.read_parquet(f, hive_partitioning=False) for f in files],
                     how="diagonal_relaxed")


def _frame(source: Source) -> pl.DataFrame:
    if isinstance(source, pl.DataFrame):
        return source
    if isinstance(source, pd.DataFrame):
        return pl.from_pandas(source)
    return read_parquet(source)


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


def _conform(frame: pl.DataFrame, schema: dict, time_column: str) -> pl.DataFrame:
    """``schema``'s columns first (cast; absent optional ones as nulls; ``time_column`` in
    UTC), then any other columns as they came; sorted by ``time_column`` (stable)."""
    cols = []
    for name, dtype in schema.items():
        if name == time_column:
            cols.append(_utc(frame, name))
        elif name in frame.columns:
            cols.append(pl.col(name).cast(dtype))
        else:
            cols.append(pl.lit(None, dtype).alias(name))
    extra = [c for c in frame.columns if c not in schema]
    return frame.select(*cols, *extra).sort(time_column, maintain_order=True)


def load_events(source: Source) -> pl.DataFrame:
    """Validated canonical events from a Parquet path or a polars/pandas frame.

    Raises :class:`~models.training.validate.ContractError` naming every broken rule of the
    event contract with its rows (``models.training.validate``)."""
    frame = _frame(source)
    _require(frame, REQUIRED_EVENT_COLUMNS, "events")
    frame = frame.with_row_index(ROW)
    check(frame, whole_amounts(frame, ("amount_minor", "fee_minor", "target_amount_minor")),
          "events")
    out = _conform(frame, EVENT_SCHEMA, "occurred_at")
    check(out, event_rules(REQUIRED_EVENT_COLUMNS), "events")
    out = out.drop(ROW)
    no_country = out["country"].null_count()
    if no_country:
        log.warning("%d events have no country: an account whose first event has none gets "
                    "its local night/weekend features in UTC", no_country)
    first = out["transaction_id"].is_first_distinct()
    if not first.all():
        log.warning("dropping %d duplicate transaction_id rows", int((~first).sum()))
        out = out.filter(first)
    return out


def load_labels(source: Source) -> pl.DataFrame:
    """Validated labels from a Parquet path/folder or a polars/pandas frame.

    The ``LABEL_SCHEMA`` columns first (optional ones filled with nulls), then any other
    columns as they came; sorted by ``labelled_at`` (stable). Nulls in the required columns
    raise a :class:`~models.training.validate.ContractError` naming the rows.
    """
    frame = _frame(source)
    _require(frame, REQUIRED_LABEL_COLUMNS, "labels")
    out = _conform(frame.with_row_index(ROW), LABEL_SCHEMA, "labelled_at")
    check(out, required_nulls(REQUIRED_LABEL_COLUMNS), "labels")
    return out.drop(ROW)


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
    """Labels in the shape of the stream's label events (``features.offline.label_events``:
    each joined to its transaction's merchant, device, P2P payee and time; labels of unknown
    transactions dropped).

    ``features.build_features`` takes canonical labels directly and does this itself; the
    builder keeps them point-in-time correct (a label counts for an event only if it was known
    at the event's time).
    """
    return label_events(events, labels)


def history_from_simulator(days: int, seed: int = 0, end: datetime | None = None,
                           customers: int = 2000, merchants: int = 300,
                           fraud_rate: float | None = None, aml_rate: float | None = None,
                           label_delays: LabelDelays | None = None,
                           n_events: int | None = None) -> History:
    """Simulated history (``simulator.simulate_history``), validated like any source.

    ``events`` carry ground truth (``is_fraud``, ``pattern``: never model inputs); ``labels``
    are the delayed labels known before ``end`` (with ``source``). ``n_events``, if given,
    replaces ``customers`` by the number that yields about that many events
    (:data:`EVENTS_PER_CUSTOMER_DAY`). Deterministic under ``seed`` and ``end``.
    """
    if n_events is not None:
        customers = max(50, round(n_events / (EVENTS_PER_CUSTOMER_DAY * max(days, 1))))
    rates = {k: v for k, v in (("fraud_rate", fraud_rate), ("aml_rate", aml_rate))
             if v is not None}
    h = simulate_history(days, seed=seed, end=end, customers=customers, merchants=merchants,
                         label_delays=label_delays, **rates)  # type: ignore[arg-type]
    return History(load_events(h.events), load_labels(h.labels))


#: Events a simulated customer makes per day on average (follow-ups, funding included);
#: measured over 30-day histories.
EVENTS_PER_CUSTOMER_DAY = 2.75


def backtest_labels(events: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """Labels for a backtest on simulated history: the known ones plus the eventual truth.

    Every suspicious event (ground truth ``is_fraud`` in ``events``) without a fraud label
    gets one, ``source = "truth"``, stamped just after the last event or label — known after
    any training cutoff inside the history, so fitting never sees it (``labels_as_of``) while the
    test window is evaluated on the truth, including cases whose labels had not arrived yet or
    were never found.
    """
    if "is_fraud" not in events.columns:
        raise ValueError("events carry no ground truth (is_fraud): not a simulated history")
    labels = load_labels(labels)
    after = max(v for v in (events["occurred_at"].max(), labels["labelled_at"].max())
                if v is not None) + timedelta(microseconds=1)
    flagged = labels.filter("is_fraud").select("transaction_id")
    truth = events.filter(pl.col("is_fraud").cast(pl.Boolean)).join(
        flagged, on="transaction_id", how="anti").select(
        "transaction_id", pl.lit(True).alias("is_fraud"),
        (pl.col("pattern") if "pattern" in events.columns else pl.lit(None, pl.String)),
        pl.lit(after).alias("labelled_at"), pl.lit("truth").alias("source"))
    return load_labels(pl.concat([labels.select(list(LABEL_SCHEMA)), truth.cast(LABEL_SCHEMA)]))
