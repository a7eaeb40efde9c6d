"""Evaluating compiled rules over a context frame: the one function the stream's source and the
backtest both call, so a rule's online and offline hits agree by construction (and the parity
test checks they do).

A rule *fires* on a row where its condition is true. What it raises depends on its action:

* ``alert`` — an alert of its own on every firing row (source ``rule:<id>``, score by
  severity);
* ``tag`` / ``raise_priority`` — only on firing rows the model alerted too (``is_alert``): a
  ``rule:<id>`` alert beside the model's in the account's case, carrying the model's score
  (tag) or the higher of the model's score and the rule's severity score (raise priority: the
  case's priority is its highest alert's). Alerts of other sources in the same batch are not
  visible to a rule (sources run independently).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import polars as pl

from rules.language.compiler import HIT
from rules.rule import CompiledRule

#: Reason codes per rule alert: the values of the names its condition reads.
MAX_REASONS = 6


def raising(rule: CompiledRule, context: pl.DataFrame) -> pl.Series:
    """Per row of ``context``: does ``rule`` raise an alert there (boolean, never null)?"""
    hit = context.select(rule.condition.expr)[HIT]
    if rule.version.action == "alert":
        return hit
    return hit & context["is_alert"].fill_null(False)


def raising_all(rules: list[CompiledRule], context: pl.DataFrame
                ) -> tuple[dict[str, pl.Series], dict[str, Exception]]:
    """:func:`raising` of every rule in one pass over ``context`` (one polars query); when
    that fails, rule by rule, so one failing rule leaves the others. Returns the masks by
    rule source and the errors by rule source."""
    alerted = context["is_alert"].fill_null(False) if "is_alert" in context.columns else None
    try:
        hits = context.select([r.condition.expr.alias(r.source) for r in rules])
        masks = {r.source: hits[r.source] if r.version.action == "alert" or alerted is None
                 else hits[r.source] & alerted for r in rules}
        return masks, {}
    except Exception:  # find the culprit(s)
        masks, errors = {}, {}
        for r in rules:
            try:
                masks[r.source] = raising(r, context)
            except Exception as exc:
                errors[r.source] = exc
        return masks, errors


def alert_score(rule: CompiledRule, model_score: float) -> float:
    """>>> from rules.rule import RuleVersion, compile_rule
    >>> tag = compile_rule(RuleVersion("t", 1, "true", "high", "tag", "", "a", None), {})
    >>> alert_score(tag, 0.55)
    0.55
    """
    if rule.version.action == "alert":
        return rule.score
    if rule.version.action == "raise_priority":
        return max(model_score, rule.score)
    return model_score


def reasons(rule: CompiledRule, row: dict[str, Any]) -> list[str]:
    """``name=value`` of the names the condition read, for the analyst's "why"."""
    out = []
    for name in sorted(rule.condition.names)[:MAX_REASONS]:
        value = row.get(name)
        if isinstance(value, float):
            value = "missing" if math.isnan(value) else f"{value:g}"
        elif isinstance(value, datetime):
            value = value.isoformat()
        out.append(f"{name}={'missing' if value is None else value}")
    return out
