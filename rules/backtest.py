"""Backtest: a rule version over the lake's history, by the compiled form the stream runs.

:func:`backtest` reads the lake rows of a window (``core.lake``; only the columns the rules
need, whole days skipped by the ``dt`` partition), builds the same context the stream builds
(:mod:`rules.context`) and asks :func:`rules.evaluate.raising` where the rule raises. It
reports:

* ``transactions``, ``hits`` (condition true), ``alerts`` (what the stream would raise: for a
  tag / raise-priority rule, hits the model alerted too), ``distinct_accounts``;
* ``per_day``: alerts and distinct accounts per UTC day;
* ``precision`` and ``recall`` against the labels (the lake's ``labels`` view — analyst
  decisions, chargebacks, simulator labels that went through the stream — or a labels frame
  given instead): per transaction the latest label wins, unlabelled counts as legitimate, as
  in training; ``precision_labelled`` counts only labelled alerts;
* ``overlap``: alerts the model raised too (``is_alert``), and alerts each other active rule
  raises on the same rows;
* ``examples``: the first alerts with the values the condition read.

The result is JSON-ready; ``RuleStore.record_backtest`` stores it with the version.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from core.lake import connect
from rules.context import STATEFUL, context_frame, lake_columns
from rules.evaluate import raising, reasons
from rules.rule import CompiledRule

EXAMPLES = 10


@dataclass(frozen=True)
class Backtest:
    figures: dict[str, Any]  # JSON-ready, stored with the version
    alert_ids: list[str]  # the transactions it raises on, in time order


def lake_window(lake_dir: Path, start: datetime, end: datetime,
                names: set[str] | frozenset[str]) -> pl.DataFrame:
    """Lake rows with ``start <= occurred_at < end`` (one per transaction), the columns for
    ``names``, plus ``label`` (latest lake label; null when none)."""
    columns = ", ".join(f't."{c}"' for c in lake_columns(names))
    con = connect(Path(lake_dir), STATEFUL)
    try:
        return con.sql(
            f"SELECT {columns}, l.is_fraud AS label FROM ("
            "  SELECT * FROM lake_rows WHERE dt BETWEEN $d0 AND $d1"
            "    AND occurred_at >= $start AND occurred_at < $end"
            "  QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY processed_at) = 1"
            ") t LEFT JOIN (SELECT labelled_transaction_id, arg_max(is_fraud, occurred_at) "
            "  AS is_fraud FROM labels GROUP BY 1) l"
            " ON l.labelled_transaction_id = t.transaction_id"
            " ORDER BY t.occurred_at, t.transaction_id",
            params={"d0": start.date(), "d1": (end - timedelta(microseconds=1)).date(),
                    "start": start, "end": end}).pl()
    finally:
        con.close()


def backtest(lake_dir: Path, rule: CompiledRule, start: datetime, end: datetime, *,
             others: Sequence[CompiledRule] = (), labels: pl.DataFrame | None = None,
             customers: pl.DataFrame | None = None) -> Backtest:
    """The figures of ``rule`` over ``[start, end)``; ``others``: the active rules to compare
    with; ``labels`` (``transaction_id``, ``is_fraud``, ``labelled_at``) replace the lake's."""
    started = time.perf_counter()
    others = [o for o in others if o.version.rule_id != rule.version.rule_id]
    names = set(rule.condition.names).union(*(o.condition.names for o in others))
    rows = lake_window(lake_dir, start, end, names)
    if labels is not None:
        latest = (labels.sort("labelled_at").group_by("transaction_id").last()
                  .select("transaction_id", pl.col("is_fraud").alias("given")))
        rows = rows.join(latest, on="transaction_id", how="left", maintain_order="left") \
            .with_columns(label=pl.col("given")).drop("given")
    context = context_frame(rows.drop("label"), customers)
    hit = context.select(rule.condition.expr)["hit"]
    alerts = raising(rule, context)
    fraud = rows["label"].fill_null(False)
    labelled = rows["label"].is_not_null()
    raised = context.filter(alerts)
    n_alerts, n_fraud = int(alerts.sum()), int(fraud.sum())
    caught = int((alerts & fraud).sum())
    alerts_labelled = int((alerts & labelled).sum())
    per_day = (raised.group_by(pl.col("occurred_at").dt.date().alias("day"))
               .agg(pl.len().alias("alerts"), pl.col("account_id").n_unique().alias("accounts"))
               .sort("day"))
    overlap_rules = {}
    for other in others:
        try:
            overlap_rules[other.model_version] = int((alerts & raising(other, context)).sum())
        except Exception as exc:  # another rule's failure must not sink this backtest
            overlap_rules[other.model_version] = f"failed: {exc}"
    figures = {
        "rule": rule.version.rule_id, "version": rule.version.version,
        "condition": rule.version.condition, "action": rule.version.action,
        "window": {"from": start.isoformat(), "to": end.isoformat()},
        "transactions": rows.height, "hits": int(hit.sum()), "alerts": n_alerts,
        "distinct_accounts": raised["account_id"].n_unique(),
        "per_day": [{"day": d.isoformat(), "alerts": a, "accounts": c}
                    for d, a, c in per_day.iter_rows()],
        "fraud_in_window": n_fraud, "fraud_alerted": caught,
        "labelled_alerts": alerts_labelled,
        "precision": caught / n_alerts if n_alerts else None,
        "precision_labelled": caught / alerts_labelled if alerts_labelled else None,
        "recall": caught / n_fraud if n_fraud else None,
        "overlap": {"model": int((alerts & context["is_alert"].fill_null(False)).sum()),
                    "rules": overlap_rules},
        "examples": [{"transaction_id": r["transaction_id"], "account_id": r["account_id"],
                      "occurred_at": r["occurred_at"].isoformat(),
                      "amount_minor": r["amount_minor"], "currency": r["currency"],
                      "score": r["score"], "reasons": reasons(rule, r)}
                     for r in raised.head(EXAMPLES).iter_rows(named=True)],
        "seconds": round(time.perf_counter() - started, 3),
    }
    return Backtest(figures, raised["transaction_id"].to_list())
