"""The ledger's health for the Ledger page: the trial balance, the books' size, rejections by
reason, and a verify run on demand — functions of a database engine or a DuckDB connection over
the lake, tested without Streamlit.

The trial balance is read from ``ledger_balances`` (one row per account and currency, kept by
every posting), not from the entries: one pass over the accounts, whatever the journal's
length. ``flowlet ledger verify`` (and the page's button) recompute it from the entries, with
the hash chains.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pandas as pd
from sqlalchemy import Engine, func, inspect, select

from core import ledger_reasons
from core.contract import format_minor
from ledger import Ledger
from ledger.schema import balances
from ledger.verify import VerifyReport, verify


def trial_balance(engine: Engine) -> pd.DataFrame:
    """Per currency: the sum of every account's balance (zero in healthy books) and the number
    of accounts holding it (empty before the first posting created the ledger)."""
    columns = ["currency", "sum of balances", "accounts", "balanced"]
    if not inspect(engine).has_table(balances.name):
        return pd.DataFrame(columns=columns)
    with engine.connect() as conn:
        rows = conn.execute(select(balances.c.currency, func.sum(balances.c.balance),
                                   func.count()).group_by(balances.c.currency)
                            .order_by(balances.c.currency)).all()
    return pd.DataFrame(
        [{"currency": ccy, "sum of balances": format_minor(int(total), ccy),
          "accounts": int(n), "balanced": "yes" if int(total) == 0 else "NO"}
         for ccy, total, n in rows],
        columns=columns)


#: The ledger's rejection reasons by kind: (key, SQL LIKE pattern, words), first match wins
#: (declared in core: the lake's rejection cube groups by them as rows arrive).
REASON_KINDS = ledger_reasons.REASON_KINDS
_COLUMNS = ["reason", "transactions", "latest", "latest example"]


def _kind_sql() -> str:
    quote = lambda text: "'" + text.replace("'", "''") + "'"  # noqa: E731
    cases = " ".join(f"WHEN ledger_reason LIKE {quote(pattern)} THEN {quote(words)}"
                     for _, pattern, words in REASON_KINDS)
    return f"CASE {cases} ELSE coalesce(ledger_reason, {quote(ledger_reasons.NO_REASON)}) END"


def rejections_by_reason(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Transactions the ledger rejected, per kind of reason, most frequent first, with one
    example of the ledger's own words: from the lake's ``rejection`` cube (a handful of groups,
    whatever the lake's size), or from the rejected rows when the cube does not hold every
    rejection (files aggregated before the cube existed)."""
    ((counted, in_cube),) = con.sql(
        """SELECT (SELECT coalesce(sum(rejected), 0) FROM aggregates WHERE cube = 'minute'),
                  (SELECT coalesce(sum(transactions), 0) FROM aggregates
                   WHERE cube = 'rejection')""").fetchall()
    if counted != in_cube:
        return rejections_from_rows(con)
    raw = con.sql(
        """SELECT reason_kind, sum(transactions) AS n, max(last_occurred_at) AS latest,
                  arg_max(last_reason, (last_occurred_at, last_reason))
                    FILTER (WHERE last_reason IS NOT NULL) AS example
           FROM aggregates WHERE cube = 'rejection' GROUP BY ALL""").df()
    raw["reason"] = [ledger_reasons.words_of(None if pd.isna(k) else k) for k in raw.reason_kind]
    # Kinds sharing words (a reason no kind matched that reads like one): one row, as the
    # rows' query groups them.
    raw = raw.sort_values(["latest", "example"], na_position="first")
    grouped = raw.groupby("reason", sort=False).agg(
        n=("n", "sum"), latest=("latest", "max"), example=("example", "last")).reset_index()
    return _table(grouped)


def rejections_from_rows(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """:func:`rejections_by_reason` from the rejected rows themselves (deduplicated): a scan of
    the lake's ``ledger_status`` column (~1 s at 10 M rows). The example is the latest row's
    reason; of rows at the same time, the greatest text (as the cube keeps it)."""
    raw = con.sql(
        f"""SELECT {_kind_sql()} AS reason, count(*) AS n, max(occurred_at) AS latest,
                   arg_max(ledger_reason, (occurred_at, ledger_reason)) AS example
            FROM (SELECT DISTINCT transaction_id, ledger_reason, occurred_at FROM lake_rows
                  WHERE ledger_status = 'rejected')
            GROUP BY ALL""").df()  # noqa: S608 — constant patterns
    return _table(raw)


def _table(raw: pd.DataFrame) -> pd.DataFrame:
    raw = raw.sort_values(["n", "reason"], ascending=[False, True])
    return pd.DataFrame(
        [{"reason": r.reason, "transactions": int(r.n),
          "latest": f"{pd.Timestamp(r.latest).tz_convert(UTC):%Y-%m-%d %H:%M:%S} UTC",
          "latest example": None if pd.isna(r.example) else r.example}
         for r in raw.itertuples()],
        columns=_COLUMNS)


@dataclass(frozen=True)
class VerifyRun:
    report: VerifyReport
    at: datetime
    seconds: float


def run_verify(engine: Engine) -> VerifyRun:
    """``flowlet ledger verify`` now: every check over every journal (seconds on big books)."""
    start = datetime.now(UTC)
    report = verify(Ledger(engine))
    return VerifyRun(report, start, (datetime.now(UTC) - start).total_seconds())


__all__ = ["REASON_KINDS", "VerifyRun", "rejections_by_reason", "rejections_from_rows",
           "run_verify", "trial_balance"]
