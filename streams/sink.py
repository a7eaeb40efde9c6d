"""The lake sink: the one writer of the Parquet lake that DuckDB and the dashboards read.

Rows land as Hive-partitioned Parquet (``lake/transactions/dt=YYYY-MM-DD/part-<batch>.parquet``,
``<batch>`` a uuid per call of :meth:`LakeSink.write`), next to the batch's aggregates
(``lake/aggregates/dt=YYYY-MM-DD/part-<batch>.parquet``, :mod:`core.lake_aggregates`), each
written to a temporary name and renamed so a reader never sees half a file. Deduplication by
``transaction_id`` is claimed in the database (``lake_index``, ``file`` = the batch id) in the
same transaction that covers the file writes, and only newly claimed rows are written or
aggregated: a crash before the commit leaves no claim, so the redelivered batch is written
again; a crash between rename and commit leaves an unclaimed copy, which the lake view
(:mod:`core.lake`) drops and the compactor (:mod:`streams.lake_compactor`) removes, with its
aggregates, once the redelivery has claimed the rows. ``lake_index.file`` keeps naming the batch
that first wrote a row after compaction moved it: the compactor reads it as "which copy is the
committed one", nothing reads it as a path.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime
from itertools import chain
from operator import itemgetter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Column, Engine, MetaData, String

from core.contract import LabelEvent
from core.db import claim_statement, claim_table, create_tables
from core.lake import AGGREGATES, LABELS
from core.lake_aggregates import aggregate
from core.lake_schema import FEATURE_PREFIX, LABEL_SCHEMA, check_row, transaction_schema
from features.definitions import FEATURES

log = logging.getLogger(__name__)

_meta = MetaData()
lake_index = claim_table("lake_index", _meta, "written_at",
                         Column("file", String(300), nullable=False))
#: Labels written to ``lake/labels``, by ``label_id`` (in its ``transaction_id`` column).
label_index = claim_table("lake_label_index", _meta, "written_at")


#: The stateful features a lake row carries as ``f_<name>`` columns (the join stage's vector).
LAKE_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES)


class LakeSink:
    """Writes lake rows with the declared schema (:mod:`core.lake_schema`), each once."""

    def __init__(self, lake_dir: Path, engine: Engine, table: str = "transactions",
                 feature_names: Sequence[str] = LAKE_FEATURES, *,
                 write_aggregates: bool = True) -> None:
        """``write_aggregates``: write each batch's aggregates too (about 5 ms per 500-row
        batch), so the dashboards count rows as they arrive; without, the compactor aggregates
        them and the dashboards count them from its next round on."""
        self.root = Path(lake_dir) / table
        self.aggregates_root = Path(lake_dir) / AGGREGATES
        self.write_aggregates = write_aggregates
        self.schema = transaction_schema(feature_names)
        self._names = frozenset(self.schema.names)
        self.root.mkdir(parents=True, exist_ok=True)
        self.engine = engine
        self._claim = claim_statement(engine.dialect.name, lake_index)
        create_tables(_meta, engine)

    def write(self, rows: Sequence[dict]) -> int:
        """Write rows not yet in the lake; return how many were new."""
        if not rows:
            return 0
        now = datetime.now(UTC)
        file_id = uuid.uuid4().hex
        for r in rows:  # a missing key would be written as NULL, an extra one dropped
            check_row(r, self._names)
        by_id = {r["transaction_id"]: r for r in rows}
        with self.engine.begin() as conn:
            claimed = set(conn.execute(self._claim, [
                {"transaction_id": t, "file": file_id, "written_at": now} for t in by_id
            ]).scalars())
            ids = list(by_id)
            new_rows = [by_id[t] for t in ids if t in claimed]
            self._write_files(new_rows, file_id)
        return len(new_rows)

    def _write_files(self, rows: list[dict], file_id: str) -> None:
        by_date: dict[date, list[dict]] = defaultdict(list)
        for r in rows:
            by_date[r["occurred_at"].astimezone(UTC).date()].append(r)
        for when, day_rows in by_date.items():
            day = when.isoformat()
            table = rows_table(day_rows, self.schema)
            # Both before the claims commit: if either write fails, no row is claimed.
            write_atomically(table, self.root / f"dt={day}" / f"part-{file_id}.parquet")
            if self.write_aggregates:
                write_atomically(aggregate(table),
                                 self.aggregates_root / f"dt={day}" / f"part-{file_id}.parquet")
        log.debug("lake: wrote %d rows in %d files", len(rows), len(by_date))


class LabelSink:
    """Writes applied labels to ``lake/labels/dt=<day labelled>/part-<batch>.parquet``, each
    ``label_id`` once (claimed in ``lake_label_index`` like the transactions' rows)."""

    def __init__(self, lake_dir: Path, engine: Engine) -> None:
        self.root = Path(lake_dir) / LABELS
        self.engine = engine
        self._claim = claim_statement(engine.dialect.name, label_index)
        create_tables(_meta, engine)

    def write(self, labels: Sequence[LabelEvent], processed_at: datetime) -> int:
        if not labels:
            return 0
        by_id = {lb.label_id: lb for lb in labels}
        file_id = uuid.uuid4().hex
        with self.engine.begin() as conn:
            claimed = set(conn.execute(self._claim, [
                {"transaction_id": i, "written_at": processed_at} for i in by_id]).scalars())
            by_day: dict[str, list[dict]] = defaultdict(list)
            for label_id in by_id:
                if label_id in claimed:
                    lb = by_id[label_id]
                    by_day[lb.occurred_at.astimezone(UTC).strftime("%Y-%m-%d")].append({
                        **lb.model_dump(include=set(LABEL_SCHEMA.names)),
                        "processed_at": processed_at})
            for day, rows in by_day.items():
                write_atomically(pa.Table.from_pylist(rows, schema=LABEL_SCHEMA),
                                 self.root / f"dt={day}" / f"part-{file_id}.parquet")
        return len(claimed)


def rows_table(rows: Sequence[dict], schema: pa.Schema) -> pa.Table:
    """``rows`` (dicts with exactly the schema's columns) as an Arrow table, the same as
    ``pa.Table.from_pylist``; the float64 feature columns (~85 of a lake row's ~116) go
    through one NumPy matrix instead of one Python-to-Arrow conversion per value, which made
    building the table ~2× faster. A feature that is not a number (``None``, NULL in the
    lake) sends the batch the slow way.

    >>> schema = pa.schema([("id", pa.string()), ("f_x", pa.float64())])
    >>> rows_table([{"id": "a", "f_x": 1.5}, {"id": "b", "f_x": float("nan")}],
    ...            schema).column("f_x").to_pylist()
    [1.5, nan]
    >>> rows_table([{"id": "c", "f_x": None}], schema).column("f_x").to_pylist()
    [None]
    """
    floats = [f.name for f in schema
              if f.name.startswith(FEATURE_PREFIX) and f.type == pa.float64()]
    if not rows or not floats:
        return pa.Table.from_pylist(list(rows), schema=schema)
    get = itemgetter(*floats) if len(floats) > 1 else (lambda r: (r[floats[0]],))
    try:  # float() refuses None, which NumPy would read as NaN
        matrix = np.fromiter(map(float, chain.from_iterable(map(get, rows))),
                             dtype=np.float64, count=len(rows) * len(floats))
    except TypeError:
        return pa.Table.from_pylist(list(rows), schema=schema)
    matrix = matrix.reshape(len(rows), len(floats))
    columns = {name: pa.array(matrix[:, j]) for j, name in enumerate(floats)}
    return pa.Table.from_arrays(
        [columns[f.name] if f.name in columns
         else pa.array([r[f.name] for r in rows], type=f.type) for f in schema], schema=schema)


def write_atomically(table: pa.Table, final: Path, **options: object) -> None:
    """Write ``table`` to ``final`` by way of a hidden temporary name and a rename, so a reader
    sees the whole file or none of it (parquet rejects NULL in a required column here)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp"
    pq.write_table(table, tmp, compression="zstd", **options)  # type: ignore[arg-type]
    os.replace(tmp, final)
