"""Checking a parsed condition and compiling it to ONE polars expression.

:func:`compile_condition` resolves every name against the catalogue (:mod:`rules.context`),
every ``list("...")`` against the named lists it is given, checks the types (a number is not
compared with a string, ``and`` takes conditions) and returns a :class:`Condition`: a boolean
``pl.Expr`` evaluated the same way over a stream micro-batch and over the lake's history.

Missing values. A comparison with a missing value (null; a feature's NaN is read as null) is
*unknown*; ``and``/``or`` follow three-valued logic and the rule fires only where the whole
condition is true — so ``not (x > 5)`` does not fire where ``x`` is missing.

>>> c = compile_condition('amount_minor >= 900_000 and country in list("hr")', {"hr": ["IR"]})
>>> sorted(c.names), c.lists
(['amount_minor', 'country'], ('hr',))
>>> frame = pl.DataFrame({"amount_minor": [950_000, 950_000, 10], "country": ["IR", "FR", "IR"]})
>>> frame.select(c.expr)["hit"].to_list()
[True, False, False]
>>> compile_condition("acct_cnt_1h > 3", {})  # doctest: +ELLIPSIS
Traceback (most recent call last):
rules.language.tree.RuleSyntaxError: line 1, column 1: unknown name 'acct_cnt_1h': ...count_1h?)
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from core.lake_schema import FEATURE_PREFIX
from rules.context import BOOL, FIELDS, NUMBER, STRING, TIME
from rules.language.syntax import (
    COMPARISONS,
    Binary,
    Call,
    Literal,
    Member,
    Name,
    Node,
    RuleSyntaxError,
    Unary,
    parse,
)

HIT = "hit"


@dataclass(frozen=True)
class Condition:
    text: str
    expr: pl.Expr  # boolean, named "hit", never null
    names: frozenset[str]  # the catalogue names it reads
    lists: tuple[str, ...]  # the named lists it reads, in order of appearance


def _kind_of_literal(value: object) -> str:
    if isinstance(value, bool):
        return BOOL
    return NUMBER if isinstance(value, int | float) else STRING


#: Functions: name -> (argument kinds, result kind, how to build it).
FUNCTIONS: dict[str, tuple[tuple[str, ...], str, Callable[..., pl.Expr]]] = {
    "abs": ((NUMBER,), NUMBER, lambda x: x.abs()),
    "lower": ((STRING,), STRING, lambda x: x.str.to_lowercase()),
    "upper": ((STRING,), STRING, lambda x: x.str.to_uppercase()),
    "is_null": (("any",), BOOL, lambda x: x.is_null()),
    "days_since": ((TIME,), NUMBER,
                   lambda t: (pl.col("occurred_at") - t).dt.total_microseconds() / 86_400e6),
}


def compile_condition(text: str, lists: Mapping[str, Sequence[str]]) -> Condition:
    """Parse, check and compile ``text``; ``lists`` maps each known list name to its values.

    Raises :class:`RuleSyntaxError` (line, column and reason) for bad syntax, an unknown name,
    feature or list, or a type mismatch."""
    compiler = _Compiler(text, lists)
    expr, kind = compiler.build(parse(text))
    if kind != BOOL:
        raise RuleSyntaxError(text, 0, f"the condition must be true or false, not a {kind}")
    return Condition(text, expr.fill_null(False).alias(HIT), frozenset(compiler.names),
                     tuple(dict.fromkeys(compiler.lists)))


class _Compiler:
    def __init__(self, text: str, lists: Mapping[str, Sequence[str]]) -> None:
        self.text = text
        self.known_lists = lists
        self.names: set[str] = set()
        self.lists: list[str] = []

    def fail(self, offset: int, message: str) -> RuleSyntaxError:
        return RuleSyntaxError(self.text, offset, message)

    def build(self, node: Node) -> tuple[pl.Expr, str]:
        if isinstance(node, Literal):
            return pl.lit(node.value), _kind_of_literal(node.value)
        if isinstance(node, Name):
            return self.name(node)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Unary):
            expr, kind = self.build(node.operand)
            want = BOOL if node.op == "not" else NUMBER
            self.require(kind, want, node.operand, f"'{node.op}'")
            return (~expr if node.op == "not" else -expr), kind
        if isinstance(node, Member):
            return self.member(node)
        return self.binary(node)

    def require(self, kind: str, want: str, node: Node, what: str) -> None:
        if kind != want:
            raise self.fail(node.offset, f"{what} needs a {want} here, not a {kind}")

    def name(self, node: Name) -> tuple[pl.Expr, str]:
        field = FIELDS.get(node.name)
        if field is None:
            raise self.fail(node.offset, self.unknown(node.name))
        self.names.add(node.name)
        expr = pl.col(field.name)
        if field.category == "customer":  # a profile frame may bring its own types
            expr = expr.cast(field.dtype, strict=False)
        if field.kind == NUMBER:  # a feature that does not apply is NaN: missing, not huge
            expr = expr.cast(pl.Float64).fill_nan(None)
        return expr, field.kind

    def unknown(self, name: str) -> str:
        if name.startswith(FEATURE_PREFIX) and name[len(FEATURE_PREFIX):] in FIELDS:
            return (f"unknown name {name!r}: features are named without the lake's "
                    f"'{FEATURE_PREFIX}' prefix ({name[len(FEATURE_PREFIX):]})")
        close = difflib.get_close_matches(name, FIELDS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else " (see rules/README.md)"
        if name.startswith("customer."):
            return f"unknown customer attribute {name!r}{hint}"
        return (f"unknown name {name!r}: not an event field, score, feature or customer "
                f"attribute{hint}")

    def call(self, node: Call) -> tuple[pl.Expr, str]:
        if node.function not in FUNCTIONS:
            raise self.fail(node.offset, f"unknown function {node.function!r} (known: "
                            f"{', '.join(sorted(FUNCTIONS))})")
        kinds, result, build = FUNCTIONS[node.function]
        if len(node.args) != len(kinds):
            raise self.fail(node.offset, f"{node.function}() takes {len(kinds)} argument(s), "
                            f"got {len(node.args)}")
        exprs = []
        for arg, want in zip(node.args, kinds, strict=True):
            expr, kind = self.build(arg)
            if want != "any":
                self.require(kind, want, arg, f"{node.function}()")
            exprs.append(expr)
        if node.function == "days_since":
            self.names.add("occurred_at")
        return build(*exprs), result

    def member(self, node: Member) -> tuple[pl.Expr, str]:
        expr, kind = self.build(node.operand)
        if node.list_name is not None:
            if node.list_name not in self.known_lists:
                known = ", ".join(sorted(self.known_lists)) or "none"
                raise self.fail(node.list_offset, f"unknown list {node.list_name!r} "
                                f"(known lists: {known})")
            self.require(kind, STRING, node.operand, "'in list(...)'")
            self.lists.append(node.list_name)
            values: list[object] = list(self.known_lists[node.list_name])
            series = pl.Series(values, dtype=pl.String())
        else:
            assert node.values is not None
            for lit in node.values:
                self.require(_kind_of_literal(lit.value), kind, lit, f"a member of [...] "
                             f"compared with a {kind}")
            values = [lit.value for lit in node.values]
            series = pl.Series(values, dtype=pl.Float64() if kind == NUMBER else None)
        # A missing value is neither in nor out: unknown, like a comparison.
        hit = pl.when(expr.is_null()).then(None).otherwise(expr.is_in(series.implode()))
        return (~hit if node.negated else hit), BOOL

    def binary(self, node: Binary) -> tuple[pl.Expr, str]:
        left, lk = self.build(node.left)
        right, rk = self.build(node.right)
        if node.op in ("and", "or"):
            self.require(lk, BOOL, node.left, f"'{node.op}'")
            self.require(rk, BOOL, node.right, f"'{node.op}'")
            return (left & right if node.op == "and" else left | right), BOOL
        if node.op in COMPARISONS:
            if lk != rk:
                raise self.fail(node.offset, f"cannot compare a {lk} with a {rk}")
            if lk == BOOL and node.op not in ("==", "!="):
                raise self.fail(node.offset, f"'{node.op}' does not order true and false")
            ops = {"==": left.eq, "!=": left.ne, "<": left.lt, "<=": left.le, ">": left.gt,
                   ">=": left.ge}
            return ops[node.op](right), BOOL
        self.require(lk, NUMBER, node.left, f"'{node.op}'")
        self.require(rk, NUMBER, node.right, f"'{node.op}'")
        ops2 = {"+": left.add, "-": left.sub, "*": left.mul, "/": left.truediv}
        return ops2[node.op](right), NUMBER
