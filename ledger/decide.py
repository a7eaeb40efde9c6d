"""The per-posting decision loop of a micro-batch: recipe, overdraft check, hash, rows.

Everything here is decided in memory; :mod:`ledger.store` does the reading and writing, in the
batch's one transaction, and :mod:`ledger.bulk` writes the rows this loop builds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ledger.accounts import allows_overdraft, normal_side
from ledger.batch import Item, PostingResult
from ledger.chain import EPOCH, posting_hash
from ledger.recipes import plan

_AUTH = "card_authorization"
_US = timedelta(microseconds=1)


# -- SQLite's timestamp text ------------------------------------------------------------------

_DATES: dict[int, str] = {}  # days since the epoch -> "YYYY-MM-DD "


def sqlite_ts_us(us: int) -> str:
    """:func:`ledger.bulk.sqlite_ts` of the instant ``us`` microseconds after the epoch: the
    text SQLAlchemy's SQLite ``DateTime`` stores. ``datetime.isoformat`` formats seven fields
    through C ``sprintf`` (~1 µs, once the largest single cost of a posting); this looks the
    day up (cached) and formats the clock from integers.

    >>> sqlite_ts_us(1_767_323_045_000_006)
    '2026-01-02 03:04:05.000006'
    """
    day = us // 86_400_000_000
    rest = us - day * 86_400_000_000
    date = _DATES.get(day)
    if date is None:
        if len(_DATES) > 4096:
            _DATES.clear()
        date = _DATES[day] = f"{(EPOCH + timedelta(days=day)).date().isoformat()} "
    second = rest // 1_000_000
    micro = rest - second * 1_000_000
    hour = second // 3600
    second -= hour * 3600
    minute = second // 60
    second -= minute * 60
    return f"{date}{hour:02d}:{minute:02d}:{second:02d}.{micro:06d}"


# -- overdraft ------------------------------------------------------------------------------

_SIGNS: dict[str, int] = {}  # account -> available_sign


def available_sign(account: str) -> int:
    """0 for accounts that may overdraw; else the sign turning a raw balance into available."""
    sign = _SIGNS.get(account)
    if sign is None:
        if len(_SIGNS) > 1 << 16:
            _SIGNS.clear()
        if allows_overdraft(account):
            sign = 0
        else:
            sign = -1 if normal_side(account) == "credit" else 1
        _SIGNS[account] = sign
    return sign


def overdraft(legs, guarded, batch_deltas) -> str | None:  # type: ignore[no-untyped-def]
    """The reason a posting would overdraw a no-overdraft account, or None. Legs are summed
    per (account, currency) first: only the posting's net change to an account counts."""
    change: dict[tuple[str, str], int] | None = None
    for acct, ccy, amount in legs:
        sign = _SIGNS.get(acct)
        if sign is None:
            sign = available_sign(acct)
        if sign:  # only no-overdraft accounts can be overdrawn
            if change is None:
                change = {}
            key = (acct, ccy)
            change[key] = change.get(key, 0) + amount
    if change is None:
        return None
    for key, delta in change.items():
        sign = _SIGNS.get(key[0])
        if sign is None:  # evicted by the loop above (the cache was full)
            sign = available_sign(key[0])
        if sign * delta >= 0:
            continue  # only a posting that lowers what is available can overdraw
        before = guarded[key] + batch_deltas.get(key, 0)
        if sign * (before + delta) < 0:
            return (f"insufficient funds: {key[0]} has {sign * before} {key[1]} available, "
                    f"needs {-sign * delta}")
    return None


# -- the items of a batch -------------------------------------------------------------------

_TWO_PHASE = frozenset({"card_capture", "card_void"})


def event_items(events, hold_ttl: timedelta) -> list[Item]:  # type: ignore[no-untyped-def]
    """One :class:`ledger.batch.Item` per client event, in order. Fields are read from the
    pydantic model's ``__dict__`` (where pydantic keeps them): one attribute lookup per event
    instead of eight through ``BaseModel.__getattr__``'s hook."""
    items = []
    new_tuple = tuple.__new__
    for ev in events:
        f = ev.__dict__
        event_type = f["event_type"]._value_  # the plain str (``.value`` is a slow descriptor)
        occurred_at = f["occurred_at"]
        items.append(new_tuple(Item, (
            f["transaction_id"], "event", event_type, f["account_id"], f["currency"],
            f["amount_minor"], occurred_at, None,
            occurred_at + hold_ttl if event_type == _AUTH else None,
            f["original_transaction_id"] if event_type in _TWO_PHASE else None, ev)))
    return items


# -- the loop -------------------------------------------------------------------------------

def decide(items, ctx, guarded, deltas, shard: int, seq: int, prev_hash: str, now: datetime,
           sqlite: bool, journal_rows: list, entry_rows: list,  # type: ignore[type-arg]
           decided: dict[str, PostingResult]) -> tuple[int, str]:
    """Decide each item in order: its plan, the overdraft check against ``guarded`` balances
    plus this batch's ``deltas``, its hash chained to ``prev_hash`` (the shard's head at
    ``seq``); append its journal row
    (``ledger.bulk.JOURNAL_COLUMNS``) and entry rows, update ``deltas`` and ``decided``
    (transaction id -> :class:`PostingResult`). Returns the last (seq, hash).

    ``entry_rows`` is flat: ``ledger.bulk.ENTRY_COLUMNS`` values per entry, one after another.
    Timestamps go into rows as the driver binds them: aware datetimes, or on SQLite the text
    SQLAlchemy would store."""
    if now.tzinfo is not UTC:
        if now.tzinfo is None:
            raise ValueError("naive datetime given to the ledger; use timezone-aware UTC")
        now = now.astimezone(UTC)
    now_us = (now - EPOCH) // _US
    now_db = sqlite_ts_us(now_us) if sqlite else now
    append_journal = journal_rows.append
    new_tuple = tuple.__new__
    for item in items:
        (tid, kind, event_type, account_id, currency, amount_minor, occurred_at,
         make_plan, expires, _, event) = item
        p = plan(event, ctx) if make_plan is None else make_plan(ctx)
        legs, refers_to, fx_rate = p.legs, p.refers_to, p.fx_rate
        reason = p.rejection or overdraft(legs, guarded, deltas)
        seq += 1
        if reason:
            status, legs = "rejected", []
            closes = reversal_of = expires = None
        else:
            status, closes, reversal_of = "posted", p.closes_hold, p.reversal_of
            for i, (acct, ccy, amount) in enumerate(legs):
                key = (acct, ccy)
                deltas[key] = deltas.get(key, 0) + amount
                entry_rows += (shard, seq, i, acct, ccy, amount)
            if closes or event_type == _AUTH:
                ctx.posted(item, p)
        occurred_us = (occurred_at - EPOCH) // _US
        expires_us = None if expires is None else (expires - EPOCH) // _US
        digest = posting_hash(
            prev_hash, seq, tid, kind, event_type, account_id, currency, amount_minor,
            occurred_us, now_us, status, reason, refers_to, closes, reversal_of, expires_us,
            fx_rate, legs)
        if sqlite:  # the text SQLAlchemy's DateTime stores, from the exact microseconds
            occurred_at = sqlite_ts_us(occurred_us)
            if expires_us is not None:
                expires = sqlite_ts_us(expires_us)
        append_journal((
            seq, tid, kind, event_type, account_id, currency, amount_minor, occurred_at,
            now_db, status, reason, refers_to, closes, reversal_of, expires, fx_rate,
            prev_hash, digest, shard))
        prev_hash = digest
        decided[tid] = new_tuple(PostingResult, (tid, status, reason, status))
    return seq, prev_hash
