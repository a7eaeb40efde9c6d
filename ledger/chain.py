"""The hash chain: each journal's SHA-256 covers its fields, its entries and the previous hash.

Altering, deleting or inserting any journal or entry changes a recomputed hash or breaks the
``seq``/``prev_hash`` links, which ``flowlet ledger verify`` reports by row. (Someone able to
rewrite every later row and the chain head could hide a change; publish or anchor the head hash
``verify`` prints to close that gap.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

GENESIS = "0" * 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HASHED_FIELDS = (
    "seq", "transaction_id", "kind", "event_type", "account_id", "currency", "amount_minor",
    "occurred_at", "posted_at", "status", "reason", "refers_to", "closes_hold", "reversal_of",
    "expires_at", "fx_rate",
)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return str((value - _EPOCH) // timedelta(microseconds=1))  # exact, zone-independent
    return str(value)


def journal_hash(prev_hash: str, journal: Mapping[str, object],
                 legs: Iterable[tuple[int, str, str, int]]) -> str:
    """``legs`` are (leg number, account, currency, amount) in leg order.

    >>> row = dict.fromkeys(HASHED_FIELDS, "x")
    >>> h = journal_hash(GENESIS, row, [(0, "a", "EUR", 5), (1, "b", "EUR", -5)])
    >>> h == journal_hash(GENESIS, row, [(0, "a", "EUR", 5), (1, "b", "EUR", -5)])
    True
    >>> h == journal_hash(GENESIS, row, [(0, "a", "EUR", 6), (1, "b", "EUR", -6)])
    False
    """
    return hash_values(prev_hash, [journal[name] for name in HASHED_FIELDS], legs)


def hash_values(prev_hash: str, values: Iterable[object],
                legs: Iterable[tuple[int, str, str, int]]) -> str:
    """The same hash from the field values in ``HASHED_FIELDS`` order (the hot path)."""
    text = "\x1f".join([prev_hash, *map(_text, values)])
    text += "".join(f"\x1e{leg}\x1f{account}\x1f{currency}\x1f{amount}"
                    for leg, account, currency, amount in legs)
    return hashlib.sha256(text.encode()).hexdigest()
