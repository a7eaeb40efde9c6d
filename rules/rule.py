"""A stored rule version and its compiled form.

>>> v = RuleVersion("big", 2, "amount_minor > 100", "high", "alert", "", "ana", None)
>>> rule = compile_rule(v, {})
>>> rule.source, rule.model_version, rule.score
('rule:big', 'big/v2', 0.8)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from rules.language import Condition, RuleSyntaxError, compile_condition
from rules.spec import SEVERITY_SCORES, RuleSpec


class RuleError(ValueError):
    """A rule request that cannot be done: unknown rule or version, a condition that does not
    compile, a missing backtest, a user who may not."""


@dataclass(frozen=True)
class RuleVersion:
    rule_id: str
    version: int
    condition: str
    severity: str
    action: str
    description: str
    created_by: str
    created_at: datetime | None
    active: bool = False

    @property
    def status(self) -> str:
        return "active" if self.active else "draft"

    @property
    def spec(self) -> RuleSpec:
        return RuleSpec(self.rule_id, self.condition, self.severity, self.action,
                        self.description)


@dataclass(frozen=True)
class CompiledRule:
    version: RuleVersion
    condition: Condition

    @property
    def source(self) -> str:
        """The alert source the workbench files its alerts under."""
        return f"rule:{self.version.rule_id}"

    @property
    def model_version(self) -> str:
        return f"{self.version.rule_id}/v{self.version.version}"

    @property
    def score(self) -> float:
        return SEVERITY_SCORES[self.version.severity]


def compile_rule(version: RuleVersion, lists: Mapping[str, Sequence[str]]) -> CompiledRule:
    """The version's condition compiled against ``lists``; :class:`RuleError` says where it
    fails (rule, version, line and column)."""
    try:
        return CompiledRule(version, compile_condition(version.condition, lists))
    except RuleSyntaxError as exc:
        raise RuleError(f"rule {version.rule_id} v{version.version}: condition {exc}") from exc
