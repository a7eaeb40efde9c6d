"""The rule condition language: parsed by :mod:`rules.language.syntax`, checked and compiled to
one polars expression by :mod:`rules.language.compiler`."""

from rules.language.compiler import Condition, compile_condition
from rules.language.syntax import RuleSyntaxError, parse

__all__ = ["Condition", "RuleSyntaxError", "compile_condition", "parse"]
