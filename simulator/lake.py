"""The simulated history in the lake: date-partitioned Parquet that DuckDB and polars read.

Layout (``lake`` is ``<data_dir>/lake``; ``dt`` is the UTC date of ``occurred_at`` for events and
of ``labelled_at`` for labels; the partition column is in the path, not in the files)::

    lake/history/events/dt=2026-10-02/part-0.parquet   canonical event columns + is_fraud, pattern
    lake/history/labels/dt=2026-10-05/part-0.parquet   transaction_id, is_fraud, pattern,
                                                       labelled_at, source

Writing replaces the previous history. Read it back with :func:`read_history`, or with DuckDB:
``read_parquet('lake/history/events/*/*.parquet', hive_partitioning = true)``.

>>> import tempfile
>>> from pathlib import Path
>>> from simulator.history import simulate_history
>>> h = simulate_history(days=2, seed=4, customers=60, merchants=10)
>>> lake = Path(tempfile.mkdtemp())
>>> _ = write_history(h, lake)
>>> read_history(lake) == h
True
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from simulator.history import History
from simulator.labels import LABEL_SCHEMA

TABLES = {"events": "occurred_at", "labels": "labelled_at"}


def history_dir(lake_dir: Path) -> Path:
    return Path(lake_dir) / "history"


def write_history(history: History, lake_dir: Path) -> list[Path]:
    """Write ``history`` under ``lake_dir/history`` (replacing any earlier one); the files."""
    written: list[Path] = []
    for table, time_column in TABLES.items():
        frame: pl.DataFrame = getattr(history, table)
        root = history_dir(lake_dir) / table
        if root.exists():
            shutil.rmtree(root)
        dated = frame.with_columns(dt=pl.col(time_column).dt.date().cast(pl.String))
        for (day,), part in dated.partition_by("dt", as_dict=True, maintain_order=True).items():
            path = root / f"dt={day}" / "part-0.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            part.drop("dt").write_parquet(path, statistics=True)
            written.append(path)
    return written


def read_history(lake_dir: Path) -> History:
    """The history written by :func:`write_history`, as the same frames."""
    frames = {}
    for table, time_column in TABLES.items():
        files = sorted((history_dir(lake_dir) / table).glob("dt=*/part-*.parquet"))
        if not files and table == "labels" and (history_dir(lake_dir) / "events").exists():
            frames[table] = pl.DataFrame(schema=LABEL_SCHEMA)  # none known yet
            continue
        if not files:
            raise FileNotFoundError(f"no simulated {table} under {history_dir(lake_dir)}")
        frame = pl.concat([pl.read_parquet(f, hive_partitioning=False) for f in files])
        key = ["occurred_at", "transaction_id"] if table == "events" else \
            ["labelled_at", "transaction_id"]
        frames[table] = frame.sort(key) if table == "labels" else frame.sort(
            time_column, maintain_order=True)
    return History(frames["events"], frames["labels"])
