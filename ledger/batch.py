"""What one micro-batch holds in memory while it is decided: its items, the holds and FX rates
recipes may read (:class:`BatchContext`), and the no-overdraft balances the overdraft check
reads (:class:`BalanceCache`, kept across batches by :class:`ledger.store.Ledger`).

Each is read with one statement per batch (rates: one per currency pair), not per event.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import Connection, func, select

from core.contract import EventType, TransactionEvent
from ledger.accounts import holds, wallet
from ledger.bulk import BatchStatements
from ledger.recipes import Hold, Plan
from ledger.schema import fx_rates

_AUTH = EventType.CARD_AUTHORIZATION.value


class PostingResult(NamedTuple):
    """What became of one event (immutable; a tuple, cheap to build once per posting)."""

    transaction_id: str
    status: str  # posted | rejected | duplicate
    reason: str | None = None
    #: What the ledger holds for this id: posted or rejected (for duplicates, the original).
    journal_status: str = ""


class Item(NamedTuple):
    """One journal to write: a client event (``event``, planned by its recipe), a hold
    expiry or a reversal (``make_plan``). A tuple: the hot path builds one per event with
    ``tuple.__new__`` (no Python-level ``__init__``)."""

    transaction_id: str  # (built for client events by ledger.decide.event_items)
    kind: str
    event_type: str
    account_id: str
    currency: str
    amount_minor: int
    occurred_at: datetime
    make_plan: Callable[[BatchContext], Plan] | None
    expires_at: datetime | None = None
    hold_ref: str | None = None  # the authorization a capture, void or expiry refers to
    event: TransactionEvent | None = None


class BatchContext:
    """What recipes may read while a batch is being decided: holds and FX rates, as of the
    database under the lock plus everything decided earlier in the same batch. Each is read
    with one statement per batch (rates: per currency pair), not per event."""

    def __init__(self, stmts: BatchStatements, conn: Connection, auth_ids: set[str],
                 times: Sequence[datetime] = ()) -> None:
        self.conn = conn
        self._holds: dict[str, Hold] = {}
        self._rates: dict[tuple[str, str], tuple[list[datetime], list[str]]] = {}
        self._span = (min(times), max(times)) if times else None
        if auth_ids:
            for tid, acct, ccy, amount, closer in stmts.holds(auth_ids):
                self._holds[tid] = Hold(tid, acct, ccy, amount,
                                        "pending" if closer is None else _closed_status(closer))

    def hold(self, authorization_id: str) -> Hold | None:
        return self._holds.get(authorization_id)

    def rate(self, base: str, quote: str, at: datetime) -> Decimal | None:
        if self._span is None or not self._span[0] <= at <= self._span[1]:
            return lookup_rate(self.conn, base, quote, at)
        for b, q, invert in ((base, quote, False), (quote, base, True)):
            if (b, q) not in self._rates:
                self._rates[(b, q)] = _rate_history(self.conn, b, q, *self._span)
            times, rates = self._rates[(b, q)]
            i = bisect.bisect_right(times, at)
            if i:
                return (Decimal(1) / Decimal(rates[i - 1])) if invert else Decimal(rates[i - 1])
        return None

    def posted(self, item: Item, p: Plan) -> None:
        if item.event_type == _AUTH:
            self._holds[item.transaction_id] = Hold(item.transaction_id, item.account_id,
                                                    item.currency, item.amount_minor, "pending")
        if p.closes_hold and p.closes_hold in self._holds:
            old = self._holds[p.closes_hold]
            self._holds[p.closes_hold] = Hold(old.authorization_id, old.account_id,
                                              old.currency, old.amount_minor,
                                              _closed_status(item.event_type))


def _closed_status(closer_event_type: str) -> str:
    return {"card_capture": "captured", "card_void": "voided"}.get(closer_event_type, "expired")


def _rate_history(conn: Connection, base: str, quote: str, first: datetime,
                  last: datetime) -> tuple[list[datetime], list[str]]:
    """The rates of one pair that can apply between ``first`` and ``last``: the one in force
    at ``first`` and every later one up to ``last``, oldest first."""
    in_force = (select(func.max(fx_rates.c.as_of))
                .where(fx_rates.c.base == base, fx_rates.c.quote == quote,
                       fx_rates.c.as_of <= first).scalar_subquery())
    rows = conn.execute(
        select(fx_rates.c.as_of, fx_rates.c.rate)
        .where(fx_rates.c.base == base, fx_rates.c.quote == quote, fx_rates.c.as_of <= last,
               fx_rates.c.as_of >= func.coalesce(in_force, first))
        .order_by(fx_rates.c.as_of)).all()
    return [r.as_of for r in rows], [r.rate for r in rows]


def lookup_rate(conn: Connection, base: str, quote: str, at: datetime) -> Decimal | None:
    for b, q, invert in ((base, quote, False), (quote, base, True)):
        rate = conn.execute(
            select(fx_rates.c.rate).where(fx_rates.c.base == b, fx_rates.c.quote == q,
                                          fx_rates.c.as_of <= at)
            .order_by(fx_rates.c.as_of.desc()).limit(1)).scalar()
        if rate is not None:
            return (Decimal(1) / Decimal(rate)) if invert else Decimal(rate)
    return None


def guarded_keys(items: Iterable[Item]) -> set[tuple[str, str]]:
    """The no-overdraft balances a batch is likely to lower: every payer's wallet, and the
    holds of the ones releasing a hold (nothing else debits holds). Anything else a batch
    happens to lower is read when it does."""
    payers: set[tuple[str, str]] = set()
    releasing: set[tuple[str, str]] = set()
    for it in items:
        payers.add((it.account_id, it.currency))
        if it.hold_ref:
            releasing.add((it.account_id, it.currency))
    keys = {(wallet(a), c) for a, c in payers}
    keys.update((holds(a), c) for a, c in releasing)
    return keys


class BalanceCache(dict):  # type: ignore[type-arg]
    """(account, currency) -> balance of no-overdraft accounts. A batch loads what it will
    likely check in one statement; an account first seen mid-batch (a reversal debiting a
    payee's wallet) is read on demand."""

    stmts: BatchStatements | None = None

    def load(self, stmts: BatchStatements, keys: set[tuple[str, str]]) -> int:
        """Read the keys not cached yet; how many were read."""
        self.stmts = stmts
        need = {key for key in keys if key not in self}
        if need:
            found = stmts.balances(need)
            for key in need:
                self[key] = found.get(key, 0)
        return len(need)

    def __missing__(self, key: tuple[str, str]) -> int:
        if self.stmts is None:
            raise KeyError(key)
        self[key] = self.stmts.balances({key}).get(key, 0)
        return self[key]
