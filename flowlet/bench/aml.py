"""``flowlet bench aml``: per-typology recall and false alerts of the typology detectors.

On a simulated history with the simulator's AML typologies (``simulate_history``; every event
carries its ``pattern``), the detectors (``detectors.TypologyDetectors``) see every transaction
in time order, with the dormancy feature computed as the stream does (seconds since the
account's previous transaction). Then:

* a **case** is one instance of a typology: the simulator's transactions of that pattern,
  joined into groups by the accounts they share (payer and counterparty);
* **recall** of a typology = its cases with at least one alert *of that typology* whose evidence
  names one of the case's transactions, over its cases;
* an alert is **false** when none of its evidence transactions is suspicious (no pattern).
  False alerts are counted as the alert store keeps them — one per (account, typology) and
  UTC day — per 1,000 accounts per day.

The simulator does not play dormant reactivation or high-risk corridors: their cases are
planted (``flowlet.bench.aml_planted``), so their recall checks the detectors against patterns
written for the purpose, not realistic traffic.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)
TARGET_RECALL, TARGET_FALSE_PER_1000_DAY = 0.8, 5.0
#: Two of a typology's transactions sharing accounts but this far apart are two cases.
EPISODE_GAP = timedelta(days=3)


def _cases(events: pl.DataFrame, pattern: str) -> list[set[str]]:
    """The simulator's cases of ``pattern``: its transactions grouped by shared accounts."""
    rows = events.filter(pl.col("pattern") == pattern).select(
        "transaction_id", "account_id", "counterparty_account_id", "occurred_at").rows()
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for _, payer, payee, _ in rows:
        if payee is not None:
            parent[find(payer)] = find(payee)
    groups: dict[str, list[tuple[object, str]]] = {}
    for tx, payer, _, at in rows:
        groups.setdefault(find(payer), []).append((at, tx))
    # An account the simulator reuses (a mule) joins its cases: split them where nothing
    # happened for EPISODE_GAP.
    cases: list[set[str]] = []
    for group in groups.values():
        group.sort()
        cases.append(set())
        for (before, _), (at, tx) in zip([group[0], *group[:-1]], group, strict=True):
            if at - before > EPISODE_GAP:  # type: ignore[operator]
                cases.append(set())
            cases[-1].add(tx)
    return cases


def run_detectors(events: pl.DataFrame, detectors: Any) -> list[dict[str, Any]]:
    """Every event through ``detectors`` in time order; their alert records."""
    from datetime import UTC, datetime

    from detectors.context import Seen

    frame = events.with_columns(
        t_us=pl.col("occurred_at").dt.epoch("us"),
        gap=(pl.col("occurred_at").dt.epoch("us").diff().over("account_id") / 1e6))
    now = datetime.now(UTC)
    alerts: list[dict[str, Any]] = []
    for tx, t_us, etype, amount, cur, acct, other, country, gap in frame.select(
            "transaction_id", "t_us", "event_type", "amount_minor", "currency", "account_id",
            "counterparty_account_id", "country", "gap").iter_rows():
        alerts += detectors.observe(Seen(tx, t_us, etype, amount, cur, acct, other, country,
                                         math.nan if gap is None else gap), now)
    return alerts


def evaluate(events: pl.DataFrame, alerts: list[dict[str, Any]], typologies: tuple[str, ...],
             accounts: int, days: float) -> dict[str, dict[str, Any]]:
    pattern_of = dict(events.filter(pl.col("pattern").is_not_null())
                      .select("transaction_id", "pattern").rows())
    out: dict[str, dict[str, Any]] = {}
    for name in typologies:
        mine = [a for a in alerts if a["typology"] == name]
        evidence = set().union(*(a["evidence"]["transactions"] for a in mine)) if mine else set()
        false_alerts = {(a["account_id"], a["occurred_at"][:10]) for a in mine
                        if not any(tx in pattern_of for tx in a["evidence"]["transactions"])}
        on_other = {(a["account_id"], a["occurred_at"][:10]) for a in mine} - false_alerts
        row: dict[str, Any] = {"alerts": len({(a["account_id"], a["occurred_at"][:10])
                                              for a in mine}),
                               "false_alerts": len(false_alerts),
                               "alerts_on_suspicious": len(on_other),
                               "false_per_1000_accounts_day": round(
                                   len(false_alerts) / (accounts / 1000) / days, 3)}
        cases = _cases(events, name)
        if cases:
            found = sum(bool(case & evidence) for case in cases)
            row.update(cases=len(cases), detected=found,
                       recall=round(found / len(cases), 3) if cases else None)
        else:
            row.update(cases=None, detected=None, recall=None)
        row["meets_target"] = (row["false_per_1000_accounts_day"] <= TARGET_FALSE_PER_1000_DAY
                               and (row["recall"] is None or row["recall"] >= TARGET_RECALL))
        out[name] = row
    return out


def run_aml_bench(days: int = 30, customers: int = 2000, seed: int = 2,
                  out: Path | None = None, aml_rate: float = 0.005,
                  planted: bool = True) -> dict[str, Any]:
    """Simulate, plant the typologies the simulator lacks (``planted``), detect, evaluate."""
    from detectors import TYPOLOGIES, TypologyDetectors
    from flowlet.bench.aml_planted import with_planted_cases
    from simulator import merchants_for, simulate_history

    with console.status(f"simulating {days} days × {customers:,} customers (seed {seed})"):
        history = simulate_history(days, seed=seed, customers=customers,
                                   merchants=merchants_for(customers), aml_rate=aml_rate)
    events = with_planted_cases(history.events, seed) if planted else history.events
    detectors = TypologyDetectors()
    with console.status(f"detecting over {events.height:,} events"):
        started = time.perf_counter()
        alerts = run_detectors(events, detectors)
        seconds = time.perf_counter() - started
    report = {
        "days": days, "customers": customers, "seed": seed, "events": events.height,
        "planted": ["dormant", "high_risk_corridor"] if planted else [],
        "events_per_s": round(events.height / seconds),
        "config": {"alert_threshold": detectors.config.alert_threshold,
                   "reporting_thresholds_major": detectors.config.thresholds_major},
        "typologies": evaluate(events, alerts, TYPOLOGIES, customers, days),
        "target": {"recall": TARGET_RECALL,
                   "false_per_1000_accounts_day": TARGET_FALSE_PER_1000_DAY},
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
    }
    _print(report)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "aml_bench.json").write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"written {out / 'aml_bench.json'}")
    return report


def _print(report: dict[str, Any]) -> None:
    table = Table(title=f"AML typology detectors: {report['days']} days × "
                  f"{report['customers']:,} customers, seed {report['seed']}, "
                  f"{report['events']:,} events ({report['events_per_s']:,}/s)")
    table.add_column("typology", no_wrap=True)
    for col in ("cases", "found", "recall", "alerts", "false", "false/1k/day", "target"):
        table.add_column(col, justify="right")
    for name, row in report["typologies"].items():
        table.add_row(name, *(("—" if row[k] is None else str(row[k]))
                              for k in ("cases", "detected", "recall", "alerts",
                                        "false_alerts", "false_per_1000_accounts_day")),
                      "met" if row["meets_target"] else "MISSED")
    Console(width=max(100, console.width)).print(table)
