"""The lake as a training set: the simulated history plus what the stream processed and learned.

``flowlet train --from-lake`` trains on

* the simulated history (``lake/history``, from ``flowlet simulate --days N``), when present;
* every transaction the workers processed (the lake's ``transactions`` view: canonical event
  columns, the ones the lake does not keep — ``mcc``, ``ip_address``, FX and fee fields — null;
  no feature reads them);
* every label the stream applied (``lake/labels``): analysts' decisions in the workbench and
  upstream chargebacks, each with the time it became known, so the split and the delayed-label
  features stay point-in-time correct.

A transaction labelled both in the history and live keeps both labels; per transaction the
latest known at a cut-off wins (``models.training.data.labels_as_of``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from core.frames import EVENT_SCHEMA
from core.lake import connect
from models.training.data import LABEL_SCHEMA, read_parquet
from simulator.lake import history_dir


@dataclass(frozen=True)
class LakeTrainingSet:
    events: pl.DataFrame
    labels: pl.DataFrame
    history_rows: int
    live_rows: int
    #: live labels by source (``analyst``, ``chargeback``, ``simulator``)
    live_labels: dict[str, int]

    def describe(self) -> str:
        """One line for the run's lineage and the console.

        >>> LakeTrainingSet(pl.DataFrame(), pl.DataFrame(), 10, 5, {"analyst": 2}).describe()
        'history 10 rows + live 5 rows, live labels analyst=2'
        """
        labels = ", ".join(f"{k}={v}" for k, v in sorted(self.live_labels.items())) or "none"
        return (f"history {self.history_rows:,} rows + live {self.live_rows:,} rows, "
                f"live labels {labels}")


def _live_events(lake_dir: Path) -> pl.DataFrame:
    con = connect(lake_dir)
    present = {name for (name,) in con.sql("select column_name from "
                                            "(describe transactions)").fetchall()}
    columns = ", ".join(name for name in EVENT_SCHEMA if name in present)
    frame = con.sql(f"select {columns} from transactions").pl()  # noqa: S608 — declared names
    return frame.select(pl.col(c).cast(EVENT_SCHEMA[c]) for c in frame.columns)


def _live_labels(lake_dir: Path) -> pl.DataFrame:
    frame = connect(lake_dir).sql(
        "select labelled_transaction_id as transaction_id, is_fraud, "
        "occurred_at as labelled_at, source from labels").pl()
    return frame.with_columns(pl.lit(None, pl.String()).alias("pattern"),
                              pl.col("labelled_at").dt.replace_time_zone("UTC")
                              .dt.cast_time_unit("us")
                              if frame.schema["labelled_at"] != pl.Datetime("us", "UTC")
                              else pl.col("labelled_at"))


def lake_training_set(lake_dir: Path) -> LakeTrainingSet:
    """The history and the live lake, as one set of events and labels (see the module doc).

    Raises ``FileNotFoundError`` when the lake holds neither."""
    lake_dir = Path(lake_dir)
    folder = history_dir(lake_dir)
    history_events = (read_parquet(folder / "events")
                      if any((folder / "events").rglob("*.parquet")) else None)
    history_labels = (read_parquet(folder / "labels")
                      if history_events is not None and any((folder / "labels").rglob("*.parquet"))
                      else None)
    live = _live_events(lake_dir)
    labels = _live_labels(lake_dir)
    if history_events is None and live.is_empty():
        raise FileNotFoundError(f"the lake under {lake_dir} holds no history and no processed "
                                "transaction: run `flowlet simulate --days N` or the stack first")
    live_counts = dict(labels.group_by("source").len().iter_rows()) if len(labels) else {}
    events = pl.concat([f for f in (history_events, live) if f is not None],
                       how="diagonal_relaxed")
    label_frames = [labels.select(list(LABEL_SCHEMA)).cast(LABEL_SCHEMA)]
    if history_labels is not None:
        label_frames.insert(0, history_labels.select(
            [c for c in LABEL_SCHEMA if c in history_labels.columns]))
    return LakeTrainingSet(
        events=events,
        labels=pl.concat(label_frames, how="diagonal_relaxed"),
        history_rows=0 if history_events is None else len(history_events),
        live_rows=len(live),
        live_labels={str(k): int(v) for k, v in live_counts.items()},
    )
