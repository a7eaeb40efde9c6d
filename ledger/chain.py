"""The hash chains: each journal's SHA-256 covers its fields, its entries and the previous hash
of its shard's chain (one chain per shard, each from its own :func:`genesis`).

Altering, deleting or inserting any journal or entry changes a recomputed hash or breaks the
``seq``/``prev_hash`` links, which ``flowlet ledger verify`` reports by shard and row. (Someone
able to rewrite every later row of a shard and its chain head could hide a change; publish or
anchor the head hashes ``verify`` prints to close that gap.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

GENESIS = "0" * 64  # shard 0's genesis: the one chain every ledger had before shards
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # timestamps hash as microseconds since EPOCH
HASHED_FIELDS = (
    "seq", "transaction_id", "kind", "event_type", "account_id", "currency", "amount_minor",
    "occurred_at", "posted_at", "status", "reason", "refers_to", "closes_hold", "reversal_of",
    "expires_at", "fx_rate",
)


def genesis(shard: int) -> str:
    """The ``prev_hash`` of a shard's first journal. Every hash covers its ``prev_hash``, so
    each journal is bound to its shard through the chain: a row moved to another shard, or
    two shards' chains swapped, no longer verify. Shard 0 keeps the all-zero genesis, so the
    single chain of a ledger from before shards is shard 0's, unchanged.

    >>> genesis(0) == GENESIS and genesis(1) != genesis(2) != GENESIS
    True
    """
    if shard == 0:
        return GENESIS
    return hashlib.sha256(f"flowlet ledger shard {shard}".encode()).hexdigest()


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return str((value - EPOCH) // timedelta(microseconds=1))  # exact, zone-independent
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


_US = timedelta(microseconds=1)


def micros(value: datetime) -> int:
    """Microseconds since the epoch: how the hash spells a timestamp."""
    return (value - EPOCH) // _US


def posting_hash(prev_hash: str, seq: int, transaction_id: str, kind: str, event_type: str,
                 account_id: str, currency: str, amount_minor: int, occurred_us: int,
                 posted_us: int, status: str, reason: str | None, refers_to: str | None,
                 closes_hold: str | None, reversal_of: str | None, expires_us: int | None,
                 fx_rate: str | None, legs: Iterable[tuple[str, str, int]]) -> str:
    """:func:`hash_values` spelled out for the posting hot path (one f-string, no per-field
    calls; timestamps already in :func:`micros`); ``legs`` are (account, currency, amount)
    in leg order. Same digest, by test."""
    text = (f"{prev_hash}\x1f{seq}\x1f{transaction_id}\x1f{kind}\x1f{event_type}\x1f"
            f"{account_id}\x1f{currency}\x1f{amount_minor}\x1f{occurred_us}\x1f{posted_us}"
            f"\x1f{status}\x1f{reason or ''}\x1f{refers_to or ''}\x1f{closes_hold or ''}\x1f"
            f"{reversal_of or ''}\x1f{'' if expires_us is None else expires_us}\x1f"
            f"{fx_rate or ''}")
    parts = [text]
    i = 0
    for acct, ccy, amount in legs:
        parts.append(f"\x1e{i}\x1f{acct}\x1f{ccy}\x1f{amount}")
        i += 1
    h = _SHA256.copy()  # cheaper than hashlib.sha256(), which looks the digest up by name
    h.update("".join(parts).encode())
    return h.hexdigest()


_SHA256 = hashlib.sha256()
