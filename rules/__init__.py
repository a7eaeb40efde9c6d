"""Rules as data: a safe condition language compiled to one polars expression, versioned in the
database with audited changes, backtested over the lake and evaluated per micro-batch in the
stream by the same compiled form. See README.md."""

from rules.backtest import Backtest, backtest
from rules.language import RuleSyntaxError, compile_condition
from rules.rule import CompiledRule, RuleError, RuleVersion, compile_rule
from rules.spec import RuleSpec, SpecError
from rules.store import RuleStore
from rules.stream import RuleAlerts

__all__ = ["Backtest", "CompiledRule", "RuleAlerts", "RuleError", "RuleSpec", "RuleStore",
           "RuleSyntaxError", "RuleVersion", "SpecError", "backtest", "compile_condition",
           "compile_rule"]
