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

Tokens and tree nodes live in :mod:`rules.language.tree`.

>>> parse('amount_minor >= 900000 and country in list("high_risk_countries")').op
'and'
>>> parse("amount_minor >=")
Traceback (most recent call last):
rules.language.tree.RuleSyntaxError: line 1, column 16: expected a value, found the end
"""

from __future__ import annotations

from rules.language.tree import (
    COMPARISONS,
    Binary,
    Call,
    Literal,
    Member,
    Name,
    Node,
    RuleSyntaxError,
    Token,
    Unary,
    tokenize,
)

__all__ = ["COMPARISONS", "Binary", "Call", "Literal", "Member", "Name", "Node",
           "RuleSyntaxError", "Unary", "parse"]


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
