"""The history in the lake: `flowlet simulate --days N` writes Parquet that DuckDB reads."""

import duckdb

from flowlet.cli import main
from simulator import read_history, simulate_history, write_history


def test_flowlet_simulate_days_writes_parquet_duckdb_reads(tmp_path):
    assert main(["--data-dir", str(tmp_path), "simulate", "--days", "2", "--seed", "3",
                 "--customers", "150", "--merchants", "20"]) == 0
    root = tmp_path / "lake" / "history"
    con = duckdb.connect()
    query = f"""SELECT count(*), count(DISTINCT dt), sum(is_fraud::INT), min(occurred_at),
                       max(occurred_at)
                FROM read_parquet('{root}/events/*/*.parquet', hive_partitioning = true)"""
    n, days, frauds, first, last = con.sql(query).fetchall()[0]
    expected = simulate_history(days=2, seed=3, customers=150, merchants=20).events
    assert n == expected.height and frauds == expected["is_fraud"].sum() > 0
    assert days in (2, 3)  # two days, unless the window straddles three dates
    assert (last - first).total_seconds() < 2 * 86_400
    described = con.sql(f"DESCRIBE SELECT * FROM read_parquet('{root}/events/*/*.parquet')")
    kinds = {row[0]: row[1] for row in described.fetchall()}
    assert kinds["occurred_at"] == "TIMESTAMP WITH TIME ZONE"


def test_write_then_read_gives_back_the_history(tmp_path):
    history = simulate_history(days=12, seed=5, customers=200, merchants=30)
    assert history.labels.height > 0
    files = write_history(history, tmp_path)
    assert all(f.name == "part-0.parquet" and f.parent.name.startswith("dt=") for f in files)
    assert read_history(tmp_path) == history
    # writing again replaces, never appends
    write_history(simulate_history(days=3, seed=5, customers=200, merchants=30), tmp_path)
    assert read_history(tmp_path).events.height < history.events.height
