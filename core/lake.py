"""Reading the analytics lake with DuckDB: the view every reader (dashboards, notebooks) uses.

The sink is the only writer; readers open in-memory DuckDB connections over the Parquet files,
so they never block the pipeline. The view keeps one row per ``transaction_id``.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

#: The core columns every reader may rely on (DuckDB types); the empty-lake view has exactly
#: these, so queries work before the first file lands.
CORE_COLUMNS: dict[str, str] = {
    "transaction_id": "VARCHAR", "event_type": "VARCHAR", "occurred_at": "TIMESTAMPTZ",
    "amount_minor": "BIGINT", "currency": "VARCHAR", "account_id": "VARCHAR",
    "merchant_id": "VARCHAR", "country": "VARCHAR", "channel": "VARCHAR", "score": "DOUBLE",
    "model_version": "VARCHAR", "is_alert": "BOOLEAN", "ledger_status": "VARCHAR",
    "ledger_reason": "VARCHAR", "processed_at": "TIMESTAMPTZ",
    # Model members, reason codes ("feature:+contribution", for alerts) and shadow scoring.
    # model_version and shadow_model_version are "name/version".
    "score_supervised": "DOUBLE", "score_anomaly": "DOUBLE", "reason_codes": "VARCHAR[]",
    "shadow_score": "DOUBLE", "shadow_model_version": "VARCHAR",
}


def lake_files(lake_dir: Path, table: str = "transactions") -> list[str]:
    return sorted(str(p) for p in (Path(lake_dir) / table).glob("dt=*/part-*.parquet"))


def connect(lake_dir: Path) -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB with view ``transactions`` (deduplicated) over the lake.

    With an empty lake the view exists and is empty, so queries need no special case.
    """
    con = duckdb.connect(":memory:")
    files = lake_files(lake_dir)
    if files:
        file_list = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        source = (f"read_parquet([{file_list}], hive_partitioning = true, "
                  "union_by_name = true)")
        present = {row[0] for row in con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        # Files written before a core column existed: the column reads as NULL.
        missing = "".join(f", NULL::{kind} AS {name}" for name, kind in CORE_COLUMNS.items()
                          if name not in present)
        con.execute(
            f"""CREATE VIEW transactions AS
            SELECT * EXCLUDE (dt){missing} FROM {source}
            QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY processed_at) = 1"""
        )
    else:
        columns = ", ".join(f"NULL::{kind} {name}" for name, kind in CORE_COLUMNS.items())
        con.execute(f"CREATE VIEW transactions AS SELECT {columns} WHERE false")
    return con
