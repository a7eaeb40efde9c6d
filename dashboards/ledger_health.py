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


#: The ledger's rejection reasons (free text naming accounts and ids) by kind, in an
#: analyst's words: (SQL LIKE pattern, words), first match wins.
REASON_KINDS = (
    ("insufficient funds%", "Not enough money in the wallet"),
    ("no %FX rate%", "No exchange rate known at the time"),
    ("% converts to %", "The conversion's amount is out of range"),
    ("authorization % is unknown", "Capture or void of an authorization the ledger never saw"),
    ("authorization % is not pending%",
     "The authorization was already captured, voided or expired"),
    ("authorization % belongs to another%",
     "Capture or void on another account's or currency's authorization"),
    ("% was not posted%", "Reversal of a transaction that was never posted"),
    ("% is a reversal%", "Reversal of a reversal"),
    ("% opens or closes a card hold%", "Reversal of a card hold (void it instead)"),
    ("hold % is not pending%", "Hold expiry of a hold no longer pending"),
)


def _kind_sql() -> str:
    quote = lambda text: "'" + text.replace("'", "''") + "'"  # noqa: E731
    cases = " ".join(f"WHEN ledger_reason LIKE {quote(pattern)} THEN {quote(words)}"
                     for pattern, words in REASON_KINDS)
    return f"CASE {cases} ELSE coalesce(ledger_reason, '(no reason recorded)') END"


def rejections_by_reason(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Transactions the ledger rejected, per kind of reason, most frequent first (from the
    lake), with one example of the ledger's own words."""
    raw = con.sql(
        f"""SELECT {_kind_sql()} AS reason, count(*) AS n, max(occurred_at) AS latest,
                   arg_max(ledger_reason, occurred_at) AS example
            FROM (SELECT DISTINCT transaction_id, ledger_reason, occurred_at FROM lake_rows
                  WHERE ledger_status = 'rejected')
            GROUP BY ALL ORDER BY n DESC, reason""").df()  # noqa: S608 — constant patterns
    return pd.DataFrame(
        [{"reason": r.reason, "transactions": int(r.n),
          "latest": f"{pd.Timestamp(r.latest).tz_convert(UTC):%Y-%m-%d %H:%M:%S} UTC",
          "latest example": r.example} for r in raw.itertuples()],
        columns=["reason", "transactions", "latest", "latest example"])


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


__all__ = ["REASON_KINDS", "VerifyRun", "rejections_by_reason", "run_verify", "trial_balance"]
