"""Finding raw card numbers (PANs) in any string, whatever separates their digits.

The rule, precisely:

1. A string is cut at every **letter** (``str.isalpha``, any script) into letter-free
   stretches. Digits are never joined across a letter, so hex digests and UUIDs
   (``…3f9a…``) do not join into long runs.
2. Inside a stretch, the **digit groups** are the maximal runs of digits (``0-9`` and any other
   Unicode decimal digit); whatever lies between them (``.``, ``:``, ``_``, ``-``, ``/``,
   spaces, …) is a separator and is ignored.
3. A **candidate** is a sequence of whole consecutive groups of one stretch (one group or
   more) whose digits number 13–19 in total; and, inside a group longer than 19 digits (too
   long to be one card number, so perhaps one glued to other digits), every 13–19-digit window.
4. A candidate that starts with 1–9 (no card number starts with 0: the first digit is the
   major industry identifier) and passes the Luhn check is a PAN.

So ``6011.3650.0407.1610``, ``tx-6011_3650_0407_1610``, ``id:6011:3650:0407:1610:end``,
``card 6011 3650 0407 1610 exp 12/27`` and ``60113650040716102026`` are found;
``a1b2c3…`` is not (letters break it), nor a Luhn-invalid ``dev-4111111111111112``. Limits,
both ways: a legitimate id with 13–19 digits in one stretch is refused by chance (1 in 10,
Luhn's odds), and a bare run of more than 19 digits almost always (such ids should carry a
letter); a card number glued to other digits without a separator, 19 digits or fewer in all
(``41111111111111111``), is indistinguishable from another number and passes.

>>> find_pan("tx-6011.3650.0407.1610") is not None
True
>>> find_pan("note: card 4111 1111 1111 1111, exp 12/27") is not None
True
>>> find_pan("6011a3650b0407c1610"), find_pan("acc-000123"), find_pan("2026-12-07T10:00:00Z")
(None, None, None)
>>> find_pan("60113650040716102026") is not None  # glued to other digits
True
"""

from __future__ import annotations

import re

MIN_PAN, MAX_PAN = 13, 19
PAN_MESSAGE = "contains a card number (PAN); send a card token instead"
# Letter-free stretches (\w minus digits and underscore = letters), then digit groups in them.
_STRETCH = re.compile(r"[^\W\d_]+")
_GROUP = re.compile(r"\d+")


def luhn_ok(digits: str) -> bool:
    """The Luhn check of a string of ASCII digits.

    >>> luhn_ok("4111111111111111"), luhn_ok("4111111111111112")
    (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _ascii(group: str) -> str:
    return group if group.isascii() else "".join(str(int(ch)) for ch in group)


def _candidates(groups: list[str]) -> list[str]:
    found = []
    for i, group in enumerate(groups):
        if len(group) > MAX_PAN:  # windows inside an over-long group
            for size in range(MIN_PAN, MAX_PAN + 1):
                found += [group[j:j + size] for j in range(len(group) - size + 1)]
        joined = ""
        for following in groups[i:]:  # whole consecutive groups, starting with this one
            joined += following
            if len(joined) > MAX_PAN:
                break
            if len(joined) >= MIN_PAN:
                found.append(joined)
    return found


def find_pan(text: str) -> str | None:
    """The first card number in ``text`` (as plain digits), or None. Never log the result."""
    if sum(ch.isdigit() for ch in text) < MIN_PAN:
        return None
    for stretch in _STRETCH.split(text):
        groups = [_ascii(g) for g in _GROUP.findall(stretch)]
        if sum(map(len, groups)) < MIN_PAN:
            continue
        for candidate in _candidates(groups):
            if candidate[0] != "0" and luhn_ok(candidate):
                return candidate
    return None


def redact_pans(text: str) -> str:
    """``text`` with every digit of each letter-free stretch holding a card number replaced by
    ``#`` (for what must be kept but may not carry the number, e.g. a dead letter).

    >>> redact_pans('{"id": "tx-4111.1111.1111.1111", "amount": 25}')
    '{"id": "tx-####.####.####.####", "amount": 25}'
    """
    if find_pan(text) is None:
        return text
    out, start = [], 0
    for letters in _STRETCH.finditer(text):
        out += [_redacted(text[start:letters.start()]), letters[0]]
        start = letters.end()
    out.append(_redacted(text[start:]))
    return "".join(out)


def _redacted(stretch: str) -> str:
    return _GROUP.sub(lambda m: "#" * len(m[0]), stretch) if find_pan(stretch) else stretch


def no_pan(value: str) -> str:
    """A pydantic ``AfterValidator``: refuse a string carrying a card number (the message
    never repeats the value)."""
    if find_pan(value) is not None:
        raise ValueError(PAN_MESSAGE)
    return value
