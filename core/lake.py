"""Reading the analytics lake with DuckDB: the view every reader (dashboards, notebooks) uses.

The sink is the only writer; readers open in-memory DuckDB connections over the Parquet files,
so they never block the pipeline. The view keeps one row per ``transaction_id``. Its columns are
the lake schema's (:mod:`core.lake_schema`): a column a file lacks reads as NULL, and an empty
lake has the declared columns, so queries need no special case.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb

from core.lake_schema import transaction_columns


def lake_files(lake_dir: Path, table: str = "transactions") -> list[str]:
    return sorted(str(p) for p in (Path(lake_dir) / table).glob("dt=*/part-*.parquet"))


def connect(lake_dir: Path, feature_names: Iterable[str] = ()) -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB with view ``transactions`` (deduplicated) over the lake.

    The view has every declared column (and the ``f_<name>`` column of each of
    ``feature_names``), NULL where the files lack it, plus whatever else the files hold.
    """
    con = duckdb.connect(":memory:")
    declared = transaction_columns(feature_names)
    files = lake_files(lake_dir)
    if not files:
        columns = ", ".join(f"NULL::{c.duckdb_type} AS {c.name}" for c in declared)
        con.execute(f"CREATE VIEW transactions AS SELECT {columns} WHERE false")
        return con
    file_list = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    source = f"read_parquet([{file_list}], hive_partitioning = true, union_by_name = true)"
    present = {row[0] for row in con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    # Files written before a column was declared: it reads as NULL.
    missing = "".join(f", NULL::{c.duckdb_type} AS {c.name}" for c in declared
                      if c.name not in present)
    con.execute(
        f"""CREATE VIEW transactions AS
        SELECT * EXCLUDE (dt){missing} FROM {source}
        QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY processed_at) = 1"""
    )
    return con
