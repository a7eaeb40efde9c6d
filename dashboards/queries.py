"""The dashboards' queries over the lake. Pure functions of a DuckDB connection, so they are
tested without Streamlit."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from core.lake import connect


def open_lake(lake_dir: Path) -> duckdb.DuckDBPyConnection:
    return connect(lake_dir)


def kpis(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    (row,) = con.sql(
        """SELECT count(*) AS transactions,
                  count(*) FILTER (WHERE is_alert) AS alerts,
                  count(*) FILTER (WHERE ledger_status = 'rejected') AS rejected,
                  coalesce(avg(score), 0) AS mean_score,
                  coalesce(epoch(now() - max(processed_at)), 0) AS seconds_since_last,
                  coalesce(median(epoch(processed_at - occurred_at)), 0) AS median_lag_seconds
           FROM transactions"""
    ).fetchall()
    n, alerts, rejected, mean_score, since_last, lag = row
    return {
        "transactions": int(n), "alerts": int(alerts), "ledger_rejected": int(rejected),
        "alert_rate": (alerts / n) if n else 0.0, "mean_score": float(mean_score),
        "seconds_since_last": float(since_last), "median_lag_seconds": float(lag),
    }


def volume_by_minute(con: duckdb.DuckDBPyConnection, minutes: int = 60) -> pd.DataFrame:
    return con.sql(
        f"""SELECT time_bucket(INTERVAL 1 minute, occurred_at) AS minute,
                   count(*) AS transactions, count(*) FILTER (WHERE is_alert) AS alerts
            FROM transactions
            WHERE occurred_at >= (SELECT max(occurred_at) FROM transactions)
                                 - INTERVAL {int(minutes)} minute
            GROUP BY ALL ORDER BY minute"""
    ).df()


def amount_by_currency(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Totals stay integers in minor units; the major-unit column is for display only."""
    return con.sql(
        """SELECT currency, count(*) AS transactions, sum(amount_minor)::BIGINT AS amount_minor
           FROM transactions GROUP BY currency ORDER BY amount_minor DESC"""
    ).df()


def score_histogram(con: duckdb.DuckDBPyConnection, bins: int = 20) -> pd.DataFrame:
    return con.sql(
        f"""SELECT least(floor(score * {bins}), {bins - 1}) / {bins} AS score_bin,
                   count(*) AS transactions
            FROM transactions GROUP BY ALL ORDER BY score_bin"""
    ).df()


def latest_high_risk(con: duckdb.DuckDBPyConnection, limit: int = 20) -> pd.DataFrame:
    return con.sql(
        f"""SELECT occurred_at, transaction_id, account_id, event_type, amount_minor, currency,
                   country, channel, round(score, 4) AS score,
                   array_to_string(reason_codes, ', ') AS reasons, model_version
            FROM transactions WHERE is_alert
            ORDER BY occurred_at DESC LIMIT {int(limit)}"""
    ).df()
