"""Reading the analytics lake with DuckDB: the view every reader (dashboards, notebooks) uses.

The sink is the only writer; readers open in-memory DuckDB connections over the Parquet files,
so they never block the pipeline. The view keeps one row per ``transaction_id``.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

TRANSACTION_COLUMNS = (
    "transaction_id", "event_type", "occurred_at", "amount_minor", "currency", "account_id",
    "merchant_id", "country", "channel", "score", "model_version", "is_alert", "ledger_status",
    "processed_at",
)


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
        con.execute(
            f"""CREATE VIEW transactions AS
            SELECT * EXCLUDE (dt) FROM read_parquet([{file_list}], hive_partitioning = true,
                                                     union_by_name = true)
            QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY processed_at) = 1"""
        )
    else:
        con.execute(
            """CREATE VIEW transactions AS SELECT
            NULL::VARCHAR transaction_id, NULL::VARCHAR event_type,
            NULL::TIMESTAMPTZ occurred_at, NULL::BIGINT amount_minor, NULL::VARCHAR currency,
            NULL::VARCHAR account_id, NULL::VARCHAR merchant_id, NULL::VARCHAR country,
            NULL::VARCHAR channel, NULL::DOUBLE score, NULL::VARCHAR model_version,
            NULL::BOOLEAN is_alert, NULL::VARCHAR ledger_status, NULL::VARCHAR ledger_reason,
            NULL::TIMESTAMPTZ processed_at WHERE false"""
        )
    return con
