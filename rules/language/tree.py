"""The condition language's tokens and tree: every token and node keeps its offset in the
text, so a later check can say where it went wrong (:class:`RuleSyntaxError`: line, column).

>>> [t.text for t in tokenize('country in list("hr")')]
['country', 'in', 'list', '(', '"hr"', ')', '']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


class RuleSyntaxError(ValueError):
    """A condition that cannot be parsed or checked; says where (line, column) and why."""

    def __init__(self, text: str, offset: int, message: str) -> None:
        self.offset = offset
        self.line = text.count("\n", 0, offset) + 1
        self.column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        self.reason = message
        super().__init__(f"line {self.line}, column {self.column}: {message}")


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, op, end
    text: str
    offset: int
    value: Any = None


_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>\d+(?:_\d+)*(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>==|!=|<=|>=|<|>|\+|-|\*|/|\(|\)|\[|\]|,)
""", re.VERBOSE)
KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "list"})
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            hint = " (compare with ==)" if text[pos] == "=" else (
                " (use and, or, not)" if text[pos] in "&|!" else "")
            raise RuleSyntaxError(text, pos, f"unexpected character {text[pos]!r}{hint}")
        kind, raw = m.lastgroup or "", m.group()
        if kind == "number":
            clean = raw.replace("_", "")
            value: Any = float(clean) if any(c in clean for c in ".eE") else int(clean)
            tokens.append(Token("number", raw, pos, value))
        elif kind == "string":
            body = re.sub(r"\\(.)", lambda e: _ESCAPES.get(e.group(1), e.group(1)), raw[1:-1])
            tokens.append(Token("string", raw, pos, body))
        elif kind == "name":
            tokens.append(Token("keyword" if raw in KEYWORDS else "name", raw, pos))
        elif kind == "op":
            tokens.append(Token("op", raw, pos))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


@dataclass(frozen=True)
class Literal:
    value: bool | int | float | str
    offset: int


@dataclass(frozen=True)
class Name:
    name: str
    offset: int


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Node, ...]
    offset: int


@dataclass(frozen=True)
class Unary:
    op: str  # "not" | "-"
    operand: Node
    offset: int


@dataclass(frozen=True)
class Binary:
    op: str  # and or == != < <= > >= + - * /
    left: Node
    right: Node
    offset: int


@dataclass(frozen=True)
class Member:
    """``operand [not] in [literals]`` or ``operand [not] in list("name")``."""

    operand: Node
    values: tuple[Literal, ...] | None  # None: a named list
    list_name: str | None
    negated: bool
    offset: int  # of "in"
    list_offset: int  # of the list's name (for "unknown list")


Node = Literal | Name | Call | Unary | Binary | Member
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
