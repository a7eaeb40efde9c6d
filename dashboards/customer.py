"""The case page's customer 360 beyond the alerts: ledger balances, features now against the
customer's usual, and the counterparty network two hops out — pure functions of a database
engine or a DuckDB connection over the lake, tested without Streamlit.

Every lake read is of one account's rows or cube groups, with filters Parquet metadata answers
(files clustered by account, bloom filters: :mod:`dashboards.account_rows`); the network reads
the ``edges`` cube (:mod:`core.lake_aggregates`) two hops out instead of grouping raw rows.
``flowlet bench dashboard`` times the reads on 10M rows (``dashboards/README.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import duckdb
import pandas as pd
from sqlalchemy import Engine, inspect, select

from core.contract import format_minor
from dashboards.account_rows import in_list, newest_rows
from features import registry
from ledger.accounts import available, holds, wallet
from ledger.schema import balances

#: The usual is read from at most this many of the account's newest transactions.
USUAL_ROWS = 2_000
#: The network's edges per node (the busiest counterparties): a drawing stays readable.
EDGES_PER_NODE = 8


def ledger_balances(engine: Engine, account_id: str) -> pd.DataFrame:
    """The customer's wallet and card holds per currency, as the owner reads them.

    From ``ledger_balances`` (kept by every posting), two primary-key lookups."""
    codes = {wallet(account_id): "wallet (available)", holds(account_id): "card holds"}
    if not inspect(engine).has_table(balances.name):  # no worker has posted yet
        return pd.DataFrame(columns=["account", "currency", "balance"])
    with engine.connect() as conn:
        rows = conn.execute(select(balances.c.ledger_account, balances.c.currency,
                                   balances.c.balance)
                            .where(balances.c.ledger_account.in_(list(codes)))).all()
    return pd.DataFrame(
        [{"account": codes[r.ledger_account], "currency": r.currency,
          "balance": format_minor(available(r.ledger_account, int(r.balance)), r.currency)}
         for r in sorted(rows, key=lambda r: (r.currency, r.ledger_account))],
        columns=["account", "currency", "balance"])


def features_vs_usual(con: duckdb.DuckDBPyConnection, account_id: str,
                      descriptions: dict[str, str], top: int = 8,
                      days: int = 30) -> pd.DataFrame:
    """The features of the account's latest transaction against their median over its other
    transactions of the ``days`` before (at most :data:`USUAL_ROWS` newest), the most
    unusual first (distance in units of the
    usual spread: the interquartile range, at least 5 % of the median or 1).

    Amount features are compared with the customer's transactions in the latest one's currency
    and shown in its major units. ``descriptions``: feature name → words (the catalogue).
    Empty when the account has fewer than two transactions in the lake."""
    names = [c for (c,) in con.execute(
        "SELECT column_name FROM (DESCRIBE lake_rows) WHERE column_name LIKE 'f\\_%' "
        "ESCAPE '\\'").fetchall()]
    if not names:
        return pd.DataFrame(columns=["feature", "now", "usual", "unusual by"])
    # The account's newest rows (a top-N, no window over the lake), one per transaction.
    rows = newest_rows(con, "account_id", account_id,
                       ["transaction_id", "occurred_at", "currency", *names], USUAL_ROWS)
    rows = rows.drop_duplicates("transaction_id")
    if len(rows):
        rows = rows[rows["occurred_at"] >= rows["occurred_at"].iloc[0] - pd.Timedelta(days=days)]
    if len(rows) < 2:
        return pd.DataFrame(columns=["feature", "now", "usual", "unusual by"])
    now, past = rows.iloc[0], rows.iloc[1:]
    same_currency = past[past["currency"] == now["currency"]]
    amounts = _amount_features()
    out = []
    for name in names:
        feature = name.removeprefix("f_")
        is_amount = feature in amounts  # compared in the latest transaction's currency only
        value, history = now[name], (same_currency if is_amount else past)[name].dropna()
        if pd.isna(value) or history.empty:
            continue
        usual = float(history.median())
        spread = max(float(history.quantile(0.75) - history.quantile(0.25)),
                     0.05 * abs(usual), 1.0 if usual == 0 else 0.0, 1e-9)
        distance = abs(float(value) - usual) / spread
        show = ((lambda x: format_minor(round(x), now["currency"])) if is_amount
                else _number)
        out.append({"feature": descriptions.get(feature, feature.replace("_", " ")),
                    "now": show(float(value)), "usual": show(usual),
                    "unusual by": round(distance, 1)})
    frame = pd.DataFrame(out, columns=["feature", "now", "usual", "unusual by"])
    return frame.sort_values("unusual by", ascending=False, kind="stable").head(top)


@cache
def _amount_features() -> frozenset[str]:
    """Features that are amounts in the event's currency (shown in major units)."""
    return frozenset(str(r["name"]) for r in registry()
                     if "(minor units)" in str(r["description"]))


def _number(x: float) -> str:
    """A feature value for reading: whole numbers without decimals, others with three digits.

    >>> _number(3.0), _number(0.123456), _number(12345.678)
    ('3', '0.123', '12,346')
    """
    if math.isfinite(x) and x == round(x):
        return f"{x:,.0f}"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


@dataclass(frozen=True)
class Network:
    center: str
    #: one row per (payer, payee): transactions, amount per currency in words
    edges: pd.DataFrame
    #: accounts with an alert in the lake (drawn in red)
    flagged: frozenset[str]

    def dot(self) -> str:
        """The network in Graphviz DOT (``st.graphviz_chart`` draws it, offline)."""
        lines = ['digraph network {', '  rankdir=LR; node [shape=box, style="rounded,filled", '
                 'fillcolor="#f5f5f5", fontname="sans-serif", fontsize=10]; '
                 'edge [fontname="sans-serif", fontsize=9, color="#888888"];']
        nodes = set(self.edges["payer"]) | set(self.edges["payee"]) | {self.center}
        for node in sorted(nodes):
            fill = ("#1f77b4" if node == self.center
                    else "#d62728" if node in self.flagged else "#f5f5f5")
            font = "white" if node in self.flagged or node == self.center else "black"
            lines.append(f'  "{_q(node)}" [fillcolor="{fill}", fontcolor="{font}"];')
        for e in self.edges.itertuples():
            lines.append(f'  "{_q(e.payer)}" -> "{_q(e.payee)}" '
                         f'[label="{e.transactions}× {_q(e.amount)}"];')
        lines.append("}")
        return "\n".join(lines)


def _q(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace('"', '\\"')


def counterparty_network(con: duckdb.DuckDBPyConnection, account_id: str, hops: int = 2,
                         per_node: int = EDGES_PER_NODE) -> Network:
    """Who paid whom around the account, ``hops`` out: transfers between accounts and payments
    to merchants, the ``per_node`` busiest counterparties of each node."""
    frontier, seen = {account_id}, {account_id}
    edges: list[pd.DataFrame] = []
    for _ in range(hops):
        if not frontier:
            break
        nodes, params = in_list("node", frontier)
        # From the edges cube (core.lake_aggregates), not the raw rows: the payer side, then
        # the payee side of the groups not found already; a group is in one file per day (or a
        # month's roll-up), hence the sum.
        found = con.execute(
            f"""WITH e AS (
                 SELECT account_id, counterparty_account_id, merchant_id, currency,
                        transactions, amount_minor
                 FROM aggregates WHERE cube = 'edges' AND account_id IN ({nodes})
                 UNION ALL
                 SELECT account_id, counterparty_account_id, merchant_id, currency,
                        transactions, amount_minor
                 FROM aggregates WHERE cube = 'edges' AND counterparty_account_id IN ({nodes})
                   AND account_id NOT IN ({nodes})),
               g AS (SELECT account_id AS payer,
                            coalesce(counterparty_account_id, merchant_id) AS payee, currency,
                            sum(transactions) AS n, sum(amount_minor) AS total
                     FROM e GROUP BY ALL),
               ranked AS (
                 SELECT *, row_number() OVER (
                   PARTITION BY CASE WHEN payer IN ({nodes}) THEN payer ELSE payee END
                   ORDER BY n DESC, total DESC, payer, payee) AS k
                 FROM g)
               SELECT payer, payee, currency, n, total FROM ranked
               WHERE k <= $per_node""",  # noqa: S608 — placeholders only
            {**params, "per_node": int(per_node)}).df()
        edges.append(found)
        reached = (set(found["payer"]) | set(found["payee"])) - seen
        seen |= reached
        frontier = reached
    raw = (pd.concat(edges, ignore_index=True).drop_duplicates(["payer", "payee", "currency"])
           if edges else pd.DataFrame(columns=["payer", "payee", "currency", "n", "total"]))
    table = pd.DataFrame(
        [{"payer": r.payer, "payee": r.payee, "transactions": int(r.n),
          "amount": format_minor(int(r.total), r.currency)} for r in raw.itertuples()],
        columns=["payer", "payee", "transactions", "amount"])
    nodes, params = in_list("node", seen)
    flagged = {a for (a,) in con.execute(
        f"""SELECT account_id FROM aggregates WHERE cube = 'account' AND account_id IN ({nodes})
            GROUP BY account_id HAVING sum(alerts) > 0""",  # noqa: S608 — placeholders only
        params).fetchall()}
    return Network(account_id, table, frozenset(flagged))


__all__ = ["Network", "counterparty_network", "features_vs_usual", "ledger_balances"]
