"""The active rules as an alert source of the stream (``streams.pipeline.AlertSource``).

:class:`RuleAlerts` evaluates every active rule on each micro-batch's lake rows (the context
of :mod:`rules.context`, the same the backtest reads back) and returns the alert records of the
rows they raise on (:mod:`rules.evaluate`), source ``rule:<id>``, model version
``<id>/v<version>``. The store decides between deliveries: it is idempotent per
(transaction, source).

Hot reload. Every ``poll_seconds`` (default 5) the source reads the store's revision — one
small query — and recompiles the active rules when it moved, so an activation reaches running
workers without a restart. If the database cannot be read the source keeps the rules it has.

A rule that fails at run time is logged and counted (:attr:`RuleAlerts.errors`); the batch goes
on with the other rules, and the worker with the next batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow as pa

from core.lake_schema import transaction_schema
from rules.context import STATEFUL, context_frame, lake_columns
from rules.evaluate import alert_score, raising_all, reasons
from rules.rule import CompiledRule
from rules.store import RuleStore

log = logging.getLogger(__name__)

#: Customer attributes for a batch's accounts: a frame of ``account_id`` + attribute columns.
CustomerLookup = Callable[[Sequence[str]], pl.DataFrame | None]


_LAKE_SCHEMA = transaction_schema(STATEFUL)


def rows_frame(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> pl.DataFrame:
    """``columns`` of lake rows, typed as the lake stores them (its arrow schema)."""
    schema = pa.schema([_LAKE_SCHEMA.field(c) for c in columns])
    return pl.from_arrow(pa.Table.from_pydict({c: [r[c] for r in rows] for c in columns},
                                              schema=schema))


class RuleAlerts:
    def __init__(self, store: RuleStore, poll_seconds: float = 5.0,
                 customers: CustomerLookup | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        self.customers = customers
        self.clock = clock
        self.revision: int | None = None
        self.rules: list[CompiledRule] = []
        self.columns: list[str] = []  # the lake columns the rules read
        self.checked_at = -float("inf")
        #: Runtime failures per rule source, since start.
        self.errors: dict[str, int] = {}

    def refresh(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self.checked_at < self.poll_seconds:
            return
        self.checked_at = now
        try:
            if self.store.revision() == self.revision:
                return
            revision, rules, problems = self.store.active_rules()
        except Exception:
            log.exception("cannot read the active rules; keeping the %d loaded", len(self.rules))
            return
        for problem in problems:
            log.error("active rule left out: %s", problem)
        self.revision, self.rules = revision, rules
        self.columns = lake_columns(set().union(*(r.condition.names for r in rules)))
        log.info("rules revision %d: %s", revision,
                 ", ".join(r.model_version for r in rules) or "no active rule")

    def stats(self) -> dict[str, Any]:
        """For the worker's stats page: the revision loaded, the active rules, failures."""
        return {"revision": self.revision, "active": [r.model_version for r in self.rules],
                "errors": dict(self.errors)}

    def evaluate(self, events: Sequence[Any], features: Any,
                 rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        self.refresh()
        if not self.rules or not rows:
            return []
        frame = rows_frame(rows, self.columns)
        profiles = self.customers(frame["account_id"].unique().to_list()) \
            if self.customers else None
        context = context_frame(frame, profiles)
        now = datetime.now(UTC).isoformat()
        out: list[dict[str, Any]] = []
        masks, errors = raising_all(self.rules, context)
        for rule in self.rules:
            if rule.source in errors:
                self.errors[rule.source] = self.errors.get(rule.source, 0) + 1
                log.error("rule %s failed on a batch of %d rows (the other rules go on): %r",
                          rule.model_version, len(rows), errors[rule.source])
                continue
            where = masks[rule.source].arg_true()
            if where.len():
                read = context.select(sorted(rule.condition.names))[where].to_dicts()
                out += [rule_alert(rule, rows[i], values, now)
                        for i, values in zip(where.to_list(), read, strict=True)]
        return out


def rule_alert(rule: CompiledRule, row: dict[str, Any], context_row: dict[str, Any],
               raised_at: str) -> dict[str, Any]:
    """The alert record (the shape of ``streams.rows.alert``) of a rule on a lake row."""
    return {
        "alert_id": f"alert-{row['transaction_id']}-{rule.source}",
        "transaction_id": row["transaction_id"],
        "account_id": row["account_id"],
        "merchant_id": row["merchant_id"],
        "device_id": row.get("device_id"),
        "counterparty_account_id": row.get("counterparty_account_id")
        if row.get("event_type") == "p2p_transfer" else None,
        "amount_minor": row["amount_minor"],
        "currency": row["currency"],
        "source": rule.source,
        "score": alert_score(rule, float(row["score"])),
        "alert_threshold": rule.score,
        "model_version": rule.model_version,
        "reason_codes": reasons(rule, context_row),
        "occurred_at": row["occurred_at"].isoformat(),
        "raised_at": raised_at,
    }
