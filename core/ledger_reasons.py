"""Kinds of the ledger's rejection reasons (the lake's ``ledger_reason``), in an analyst's words.

The ledger's reasons are free text naming accounts, amounts and ids (``ledger/decide.py``,
``ledger/recipes.py``); a reader wants them by kind. The kinds are declared here, below the
ledger and the lake, because the lake's ``rejection`` cube (:mod:`core.lake_aggregates`) groups
rejected rows by kind as they arrive, and the Ledger page (``dashboards/ledger_health.py``)
names the kinds in words: both read this one list.

A cube stores a kind by its key (``kind:<key>``), not by its words, so the words can change
without rewriting the lake; a reason that matches no kind is stored as its own text.

>>> kind_of("insufficient funds: wallet:a has 0 EUR available, needs 5")
'kind:insufficient_funds'
>>> kind_of("something new"), kind_of(None)
('something new', None)
>>> words_of("kind:insufficient_funds"), words_of("something new"), words_of(None)
('Not enough money in the wallet', 'something new', '(no reason recorded)')
"""

from __future__ import annotations

import re

import polars as pl

#: (key, SQL LIKE pattern, words): the first match wins.
REASON_KINDS: tuple[tuple[str, str, str], ...] = (
    ("insufficient_funds", "insufficient funds%", "Not enough money in the wallet"),
    ("no_fx_rate", "no %FX rate%", "No exchange rate known at the time"),
    ("conversion_out_of_range", "% converts to %", "The conversion's amount is out of range"),
    ("unknown_authorization", "authorization % is unknown",
     "Capture or void of an authorization the ledger never saw"),
    ("authorization_not_pending", "authorization % is not pending%",
     "The authorization was already captured, voided or expired"),
    ("authorization_of_another", "authorization % belongs to another%",
     "Capture or void on another account's or currency's authorization"),
    ("reversal_of_unposted", "% was not posted%",
     "Reversal of a transaction that was never posted"),
    ("reversal_of_reversal", "% is a reversal%", "Reversal of a reversal"),
    ("reversal_of_hold", "% opens or closes a card hold%",
     "Reversal of a card hold (void it instead)"),
    ("hold_not_pending", "hold % is not pending%", "Hold expiry of a hold no longer pending"),
)
KIND_PREFIX = "kind:"
NO_REASON = "(no reason recorded)"
_WORDS = {KIND_PREFIX + key: words for key, _, words in REASON_KINDS}


def like_to_regex(pattern: str) -> str:
    """An SQL ``LIKE`` pattern (``%`` any run, ``_`` one character) as an anchored regex.

    >>> like_to_regex("a_b%")
    '(?s)^a.b.*$'
    """
    body = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return f"(?s)^{body}$"


_REGEXES = tuple((KIND_PREFIX + key, re.compile(like_to_regex(pattern)))
                 for key, pattern, _ in REASON_KINDS)


def kind_of(reason: str | None) -> str | None:
    """The stored kind of a reason: ``kind:<key>`` of the first kind it matches, else itself."""
    if reason is None:
        return None
    return next((kind for kind, regex in _REGEXES if regex.match(reason)), reason)


def kind_expr(reason: pl.Expr) -> pl.Expr:
    """:func:`kind_of` as a polars expression (the cube's dimension)."""
    expr = reason
    for kind, regex in reversed(_REGEXES):  # built from the last, so the first match wins
        expr = pl.when(reason.str.contains(regex.pattern)).then(pl.lit(kind)).otherwise(expr)
    return expr


def words_of(kind: str | None) -> str:
    """What a page shows for a stored kind: the kind's words, a reason that matched no kind as
    the ledger wrote it (a kind no longer declared by its key)."""
    if kind is None:
        return NO_REASON
    if kind in _WORDS:
        return _WORDS[kind]
    return kind.removeprefix(KIND_PREFIX)


__all__ = ["KIND_PREFIX", "NO_REASON", "REASON_KINDS", "kind_expr", "kind_of", "like_to_regex",
           "words_of"]
