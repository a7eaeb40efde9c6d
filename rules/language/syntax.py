"""The condition language's syntax: tokens and a recursive-descent parser to a small AST.

Grammar (lowest precedence first)::

    condition := or
    or        := and ("or" and)*
    and       := not ("and" not)*
    not       := "not" not | compare
    compare   := sum (("==" | "!=" | "<" | "<=" | ">" | ">=") sum
                      | "not"? "in" ( "[" literal ("," literal)* "]" | "list" "(" STRING ")" ))?
    sum       := product (("+" | "-") product)*
    product   := unary (("*" | "/") unary)*
    unary     := "-" unary | primary
    primary   := NUMBER | STRING | "true" | "false" | NAME | NAME "(" args ")" | "(" condition ")"
    NAME      := identifier ("." identifier)*        e.g. amount_minor, customer.pep

Every node keeps its offset in the text, so a later check can say where it went wrong.

>>> parse('amount_minor >= 900000 and country in list("high_risk_countries")').op
'and'
>>> parse("amount_minor >=")
Traceback (most recent call last):
rules.language.syntax.RuleSyntaxError: line 1, column 16: expected a value, found the end
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


# -- the tree ---------------------------------------------------------------------------------
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


def parse(text: str) -> Node:
    """The tree of a condition, or :class:`RuleSyntaxError` saying where it breaks."""
    if not text.strip():
        raise RuleSyntaxError(text, 0, "the condition is empty")
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, message: str, token: Token | None = None) -> RuleSyntaxError:
        token = token or self.tok
        found = "the end" if token.kind == "end" else repr(token.text)
        return RuleSyntaxError(self.text, token.offset, f"{message}, found {found}")

    def accept(self, *texts: str) -> Token | None:
        if self.tok.kind in ("op", "keyword") and self.tok.text in texts:
            self.i += 1
            return self.tokens[self.i - 1]
        return None

    def expect(self, text: str) -> Token:
        token = self.accept(text)
        if token is None:
            raise self.error(f"expected {text!r}")
        return token

    def parse(self) -> Node:
        node = self.disjunction()
        if self.tok.kind != "end":
            raise self.error("expected an operator (and, or, ==, in, ...) or the end")
        return node

    def disjunction(self) -> Node:
        node = self.conjunction()
        while op := self.accept("or"):
            node = Binary("or", node, self.conjunction(), op.offset)
        return node

    def conjunction(self) -> Node:
        node = self.negation()
        while op := self.accept("and"):
            node = Binary("and", node, self.negation(), op.offset)
        return node

    def negation(self) -> Node:
        if op := self.accept("not"):
            return Unary("not", self.negation(), op.offset)
        return self.comparison()

    def comparison(self) -> Node:
        node = self.sum()
        if op := self.accept(*COMPARISONS):
            return Binary(op.text, node, self.sum(), op.offset)
        negated = False
        if self.tok.text == "not" and self.tokens[self.i + 1].text == "in":
            self.i += 1
            negated = True
        if op := self.accept("in"):
            return self.membership(node, negated, op.offset)
        return node

    def membership(self, operand: Node, negated: bool, offset: int) -> Member:
        if self.accept("list"):
            self.expect("(")
            name = self.tok
            if name.kind != "string":
                raise self.error('expected a list name in quotes, e.g. list("high_risk_countries")')
            self.i += 1
            self.expect(")")
            return Member(operand, None, name.value, negated, offset, name.offset)
        self.expect("[")
        values = [self.literal()]
        while self.accept(","):
            values.append(self.literal())
        self.expect("]")
        return Member(operand, tuple(values), None, negated, offset, offset)

    def literal(self) -> Literal:
        token = self.tok
        if self.accept("-"):
            if self.tok.kind != "number":
                raise self.error("expected a number after '-'")
            self.i += 1
            return Literal(-self.tokens[self.i - 1].value, token.offset)
        if token.kind in ("number", "string"):
            self.i += 1
            return Literal(token.value, token.offset)
        if self.accept("true", "false"):
            return Literal(token.text == "true", token.offset)
        raise self.error("expected a literal (number, string, true or false)")

    def sum(self) -> Node:
        node = self.product()
        while op := self.accept("+", "-"):
            node = Binary(op.text, node, self.product(), op.offset)
        return node

    def product(self) -> Node:
        node = self.unary()
        while op := self.accept("*", "/"):
            node = Binary(op.text, node, self.unary(), op.offset)
        return node

    def unary(self) -> Node:
        if op := self.accept("-"):
            return Unary("-", self.unary(), op.offset)
        return self.primary()

    def primary(self) -> Node:
        token = self.tok
        if token.kind in ("number", "string") or token.text in ("true", "false"):
            return self.literal()
        if token.kind == "name":
            self.i += 1
            if self.accept("("):
                args: list[Node] = []
                if not self.accept(")"):
                    args.append(self.disjunction())
                    while self.accept(","):
                        args.append(self.disjunction())
                    self.expect(")")
                return Call(token.text, tuple(args), token.offset)
            return Name(token.text, token.offset)
        if self.accept("("):
            node = self.disjunction()
            self.expect(")")
            return node
        if token.text == "list":
            raise self.error('list("...") may only follow "in"')
        raise self.error("expected a value")
