"""The dashboards' queries over the lake. Pure functions of a DuckDB connection
(:func:`core.lake.connect`), so they are tested without Streamlit.

Every query but :func:`latest_high_risk` reads the ``aggregates`` view (the cubes of
:mod:`core.lake_aggregates`, maintained by the sink per batch and merged by the compactor), never
raw rows: its cost follows the number of groups (minutes, accounts, merchants), not of
transactions. :func:`latest_high_risk` finds, from the minute cube, the newest minutes that hold
enough alerts and reads raw rows of those minutes only.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from core.lake import connect
from core.lake_aggregates import SCORE_BINS, median_lag_seconds

#: The queries the overview page runs, in page order (the benchmark times each of them).
PAGE_QUERIES = ("kpis", "volume_by_minute", "score_histogram", "amount_by_currency",
                "model_versions", "alerts_by_source", "top_accounts", "top_merchants",
                "latest_high_risk")
#: The model-health page's queries (the benchmark times them too).
HEALTH_QUERIES = ("model_versions", "alert_rate_by_hour", "score_bins_by_version")


#: Opens of the shared database after which a new one replaces it: its footer cache also
#: holds the footers of files compaction has deleted since, so it is not kept forever.
RENEW_AFTER_OPENS = 500
_shared_lock = threading.Lock()
_shared: list[Any] = [None, 0]  # the database, opens since it was made


def open_lake(lake_dir: Path) -> duckdb.DuckDBPyConnection:
    """A connection for one page view: its own (temporary) views over the live files, in a
    database shared by the process, so a file's Parquet footer is parsed once per process
    rather than once per page view (a case page otherwise parses ~60 footers first)."""
    with _shared_lock:
        if _shared[0] is None or _shared[1] >= RENEW_AFTER_OPENS:
            _shared[:] = [duckdb.connect(":memory:"), 0]
        _shared[1] += 1
        database = _shared[0]
    return connect(lake_dir, database=database)


def kpis(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    (row,) = con.sql(
        """SELECT coalesce(sum(transactions), 0), coalesce(sum(alerts), 0),
                  coalesce(sum(rejected), 0), coalesce(sum(score_sum), 0),
                  coalesce(epoch(now() - max(last_processed_at)), 0)
           FROM aggregates WHERE cube = 'minute'"""
    ).fetchall()
    n, alerts, rejected, score_sum, since_last = row
    lags = con.sql("""SELECT lag_bucket, sum(transactions) FROM aggregates WHERE cube = 'lag'
                      GROUP BY lag_bucket""").fetchall()
    return {
        "transactions": int(n), "alerts": int(alerts), "ledger_rejected": int(rejected),
        "alert_rate": (alerts / n) if n else 0.0, "mean_score": (score_sum / n) if n else 0.0,
        "seconds_since_last": float(since_last),
        "median_lag_seconds": median_lag_seconds((int(b), int(c)) for b, c in lags),
    }


def volume_by_minute(con: duckdb.DuckDBPyConnection, minutes: int = 60) -> pd.DataFrame:
    """Transactions and alerts per event-time minute, the last ``minutes`` minutes up to the
    newest one."""
    return con.sql(
        f"""SELECT minute, sum(transactions)::BIGINT AS transactions,
                   sum(alerts)::BIGINT AS alerts
            FROM aggregates
            WHERE cube = 'minute' AND minute > (SELECT max(minute) FROM aggregates
                                                WHERE cube = 'minute')
                                               - INTERVAL {int(minutes)} minute
            GROUP BY minute ORDER BY minute"""
    ).df()


def amount_by_currency(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Totals stay integers in minor units; the major-unit column is for display only."""
    return con.sql(
        """SELECT currency, sum(transactions)::BIGINT AS transactions,
                  sum(amount_minor)::BIGINT AS amount_minor
           FROM aggregates WHERE cube = 'minute'
           GROUP BY currency ORDER BY amount_minor DESC, currency"""
    ).df()


def score_histogram(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.sql(
        f"""SELECT score_bin / {SCORE_BINS} AS score_bin, sum(transactions)::BIGINT AS transactions
            FROM aggregates WHERE cube = 'model_version'
            GROUP BY ALL ORDER BY score_bin"""
    ).df()


def model_versions(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per champion version: volume, alerts, alert rate, mean and highest score, last use."""
    return con.sql(
        """SELECT model_version, sum(transactions)::BIGINT AS transactions,
                  sum(alerts)::BIGINT AS alerts,
                  sum(alerts) / sum(transactions) AS alert_rate,
                  round(sum(score_sum) / sum(transactions), 4) AS mean_score,
                  max(score_max) AS max_score, max(last_processed_at) AS last_used
           FROM aggregates WHERE cube = 'model_version'
           GROUP BY model_version ORDER BY last_used DESC, model_version"""
    ).df()


def alert_rate_by_hour(con: duckdb.DuckDBPyConnection, hours: int = 48) -> pd.DataFrame:
    """Transactions, alerts and alert rate per event-time hour (UTC), the last ``hours`` hours
    up to the newest one."""
    return con.sql(
        f"""SELECT date_trunc('hour', minute) AS hour, sum(transactions)::BIGINT AS transactions,
                   sum(alerts)::BIGINT AS alerts, sum(alerts) / sum(transactions) AS alert_rate
            FROM aggregates
            WHERE cube = 'minute' AND minute > (SELECT max(minute) FROM aggregates
                                                WHERE cube = 'minute')
                                               - INTERVAL {int(hours)} hour
            GROUP BY ALL ORDER BY hour"""
    ).df()


def score_bins_by_version(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Rows per (model version, score bin): each version's live score distribution."""
    return con.sql(
        """SELECT model_version, score_bin::INTEGER AS score_bin,
                  sum(transactions)::BIGINT AS transactions
           FROM aggregates WHERE cube = 'model_version' AND score_bin IS NOT NULL
           GROUP BY ALL ORDER BY model_version, score_bin"""
    ).df()


def alerts_by_source(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Alerts per source (the model today; rules and AML scenarios later) and detail."""
    return con.sql(
        """SELECT alert_source, model_version AS detail, sum(alerts)::BIGINT AS alerts,
                  max(last_occurred_at) AS last_alert
           FROM aggregates WHERE cube = 'alert_source'
           GROUP BY ALL ORDER BY alerts DESC, alert_source, detail"""
    ).df()


def _top(con: duckdb.DuckDBPyConnection, cube: str, key: str, limit: int) -> pd.DataFrame:
    return con.sql(
        f"""SELECT {key}, currency, sum(transactions)::BIGINT AS transactions,
                   sum(alerts)::BIGINT AS alerts, sum(amount_minor)::BIGINT AS amount_minor,
                   round(max(score_max), 4) AS max_score, max(last_occurred_at) AS last_seen
            FROM aggregates WHERE cube = '{cube}'
            GROUP BY ALL ORDER BY alerts DESC, transactions DESC, {key}, currency
            LIMIT {int(limit)}"""
    ).df()


def top_accounts(con: duckdb.DuckDBPyConnection, limit: int = 10) -> pd.DataFrame:
    """The accounts (per currency) with the most alerts, then the most transactions."""
    return _top(con, "account", "account_id", limit)


def top_merchants(con: duckdb.DuckDBPyConnection, limit: int = 10) -> pd.DataFrame:
    """The merchants (per currency) with the most alerts, then the most transactions."""
    return _top(con, "merchant", "merchant_id", limit)


def latest_high_risk(con: duckdb.DuckDBPyConnection, limit: int = 20) -> pd.DataFrame:
    """The ``limit`` newest alerts by event time. The minute cube says from which minute on
    there are at least ``limit`` of them; only rows from then on are read (Parquet statistics
    skip the rest, as compacted files are sorted by event time) and deduplicated."""
    ((since,),) = con.sql(
        f"""SELECT coalesce(max(minute) FILTER (WHERE newer_alerts >= {int(limit)}),
                            TIMESTAMPTZ '-infinity')
            FROM (SELECT minute, sum(sum(alerts)) OVER (ORDER BY minute DESC) AS newer_alerts
                  FROM aggregates WHERE cube = 'minute' GROUP BY minute)"""
    ).fetchall()
    newest_first = con.sql(
        f"""SELECT occurred_at, transaction_id, account_id, event_type, amount_minor, currency,
                   country, channel, round(score, 4) AS score,
                   array_to_string(reason_codes, ', ') AS reasons, model_version
            FROM (SELECT * FROM lake_rows
                  WHERE dt >= ($since AT TIME ZONE 'UTC')::DATE
                        AND is_alert AND occurred_at >= $since
                  QUALIFY row_number() OVER (PARTITION BY transaction_id
                                             ORDER BY processed_at) = 1)
            ORDER BY occurred_at DESC, transaction_id LIMIT {int(limit)}""",
        params={"since": since})
    return newest_first.df()
