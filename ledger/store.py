"""The ledger facade: post micro-batches, release holds, reverse, convert; read balances.

Every posting runs in one database transaction per micro-batch, on one shard (the caller's
choice: the worker's Kafka partition), that first locks that shard's chain head (``SELECT …
FOR UPDATE`` on PostgreSQL; the database's write lock on SQLite): each shard's hash chain
stays linear, and batches on different shards run concurrently on PostgreSQL. No balance is
overdrawn: on SQLite one writer runs at a time; on PostgreSQL a batch reads its no-overdraft
balances unlocked and the balance upsert at its end returns each new balance, which proves
that no other shard lowered one the batch decided on between the read and the write (the
upsert holds the rows until the commit) — or the batch is run again (:class:`BalanceLowered`).
Idempotency is enforced by the database: ``transaction_id`` is unique, a hold can be closed once
(``closes_hold`` unique) and a journal reversed once (``reversal_of`` unique) — when two shards
race on one of them, the insert fails and the batch is retried, seeing the winner as a
duplicate; a deadlock between two shards' row locks is retried the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from core.contract import EventType, TransactionEvent
from core.db import dialect_insert, make_engine
from ledger.accounts import available, holds, wallet
from ledger.batch import (
    BalanceCache,
    BatchContext,
    Item,
    PostingResult,
    guarded_keys,
    lookup_rate,
)
from ledger.bulk import BatchStatements
from ledger.decide import available_sign, decide, event_items
from ledger.migrate import migrate
from ledger.recipes import Leg, Plan
from ledger.schema import entries, fx_rates, journals

if TYPE_CHECKING:
    from core.settings import Settings

log = logging.getLogger(__name__)

_ATTEMPTS = 5  # a batch that lost a race (unique key, deadlock) is run again, up to this often
#: SQLSTATEs a retry resolves: deadlock detected, serialization failure.
_RETRY_SQLSTATES = frozenset({"40P01", "40001"})
_HOLD_EVENT_TYPES = frozenset({EventType.CARD_AUTHORIZATION.value, EventType.CARD_VOID.value,
                               "hold_expiry"})


class BalanceLowered(Exception):
    """Another shard lowered a no-overdraft balance this batch decided on, between the
    batch's read and its write: the batch is rolled back and run again, alone (no batch on
    any shard in flight meanwhile)."""


def _check_not_lowered(guarded: BalanceCache, deltas: dict[tuple[str, str], int],
                       new: dict[tuple[str, str], int]) -> None:
    """Each guarded balance the batch wrote was, right before its write (which holds the row
    until the commit), at least what the batch read — so every overdraft check it passed
    still holds. A balance another shard raised meanwhile is fine (checks only got safer); a
    rejection is decided on the balance as read."""
    for key, read in guarded.items():
        written = new.get(key)
        if written is None:
            continue
        before = written - deltas.get(key, 0)
        if available_sign(key[0]) * (before - read) < 0:
            raise BalanceLowered(f"{key[0]} {key[1]} was {read} when read and {before} when "
                                 "written: another shard lowered it")


class Ledger:
    """Double-entry ledger on SQLAlchemy; SQLite by default, PostgreSQL in deployment."""

    def __init__(self, engine: Engine, hold_ttl: timedelta = timedelta(days=7),
                 balance_cache_size: int = 1_000_000) -> None:
        self.engine = engine
        self.hold_ttl = hold_ttl
        #: Guarded (no-overdraft) balances as of ``_cache_heads``: every shard's chain head
        #: right after this process's last batch. A head's hash covers every journal of its
        #: shard, so while every head read under the write lock is still the one remembered,
        #: no one has posted on any shard and the cache is exact; any other head (another
        #: writer posted, on any shard) empties it. Only SQLite can keep it: on PostgreSQL
        #: other shards post concurrently and credit as well as debit, so a batch reads its
        #: balances afresh and proves them at its upsert (``BatchStatements.heads`` is None).
        self._balances = BalanceCache()
        self._cache_heads: dict[int, tuple[int, str]] | None = None
        self.balance_cache_size = balance_cache_size
        #: Balances read from the database (cache misses); for tests and diagnostics.
        self.balance_reads = 0
        self._post_lock = threading.Lock()  # one batch at a time per process, as in the DB

    @classmethod
    def from_url(cls, url: str, sqlite_synchronous: str = "FULL",
                 **kwargs: object) -> Ledger:
        engine = make_engine(url, sqlite_synchronous)
        migrate(engine)
        return cls(engine, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: object) -> Ledger:
        """The ledger at ``settings.database_url``, with the settings' SQLite durability."""
        return cls.from_url(settings.database_url, settings.ledger_sqlite_synchronous, **kwargs)

    # -- posting ---------------------------------------------------------------------------

    def post_batch(self, events: Sequence[TransactionEvent], now: datetime | None = None, *,
                   shard: int = 0) -> list[PostingResult]:
        """Post a micro-batch (in order) in one database transaction on ``shard``'s hash
        chain; idempotent by id across all shards. Any shard is correct for any events: the
        choice only decides who waits for whom. Batches on different shards run concurrently
        (PostgreSQL), writers sharing a shard take turns — so give each concurrent writer its
        own (the worker: the Kafka partition its batch came from)."""
        items = event_items(events, self.hold_ttl)
        return self._post_items(items, now or datetime.now(UTC), shard)

    def expire_holds(self, now: datetime | None = None, limit: int = 5000, *,
                     shard: int = 0) -> list[PostingResult]:
        """Release every pending hold whose authorization has expired; each exactly once
        (whichever shard's writer closes it first; the others see a duplicate)."""
        now = now or datetime.now(UTC)
        closed = select(journals.c.closes_hold).where(journals.c.closes_hold.is_not(None))
        with self.engine.connect() as conn:
            due = conn.execute(
                select(journals.c.transaction_id, journals.c.account_id, journals.c.currency,
                       journals.c.amount_minor, journals.c.expires_at)
                .where(journals.c.event_type == EventType.CARD_AUTHORIZATION.value,
                       journals.c.status == "posted", journals.c.expires_at <= now,
                       journals.c.transaction_id.not_in(closed))
                .order_by(journals.c.expires_at, journals.c.transaction_id).limit(limit)).all()
        items = [self._expiry_item(row.transaction_id, row.account_id, row.currency,
                                   int(row.amount_minor), row.expires_at) for row in due]
        return self._post_items(items, now, shard)

    def reverse(self, transaction_id: str, reason: str, now: datetime | None = None, *,
                shard: int = 0) -> PostingResult:
        """Correct a posted journal with a reversing one (every leg negated), at most once."""
        now = now or datetime.now(UTC)
        with self.engine.connect() as conn:
            original = conn.execute(select(journals).where(
                journals.c.transaction_id == transaction_id)).first()
            if original is None:
                raise KeyError(f"no journal {transaction_id}")
            legs = [Leg(r.ledger_account, r.currency, -int(r.amount_minor)) for r in
                    conn.execute(select(entries).where(
                        entries.c.journal_shard == original.shard,
                        entries.c.journal_seq == original.seq).order_by(entries.c.leg))]

        def make_plan(_ctx: BatchContext) -> Plan:
            if original.status != "posted":
                return Plan(rejection=f"{transaction_id} was not posted ({original.status})")
            if original.kind == "reversal":
                return Plan(rejection=f"{transaction_id} is a reversal; it cannot be reversed")
            if (original.event_type in _HOLD_EVENT_TYPES or original.closes_hold is not None):
                # Negating these would leave the hold's state behind the money: a reversed
                # authorization could still be voided (released twice), a reversed capture
                # would put funds back into holds that nothing releases.
                return Plan(rejection=f"{transaction_id} opens or closes a card hold; void "
                                      "the authorization or refund the capture instead")
            return Plan(legs, refers_to=transaction_id, reversal_of=transaction_id)

        item = Item(f"reversal:{transaction_id}", "reversal", "reversal", original.account_id,
                    original.currency, int(original.amount_minor), now, make_plan)
        log.info("reversing %s: %s", transaction_id, reason)
        return self._post_items([item], now, shard)[0]

    def _expiry_item(self, auth_id: str, account_id: str, currency: str, amount: int,
                     expired_at: datetime) -> Item:
        def make_plan(ctx: BatchContext) -> Plan:
            hold = ctx.hold(auth_id)
            if hold is None or hold.status != "pending":
                return Plan(rejection=f"hold {auth_id} is not pending", refers_to=auth_id)
            return Plan([Leg(holds(account_id), currency, amount),
                         Leg(wallet(account_id), currency, -amount)],
                        closes_hold=auth_id, refers_to=auth_id)

        return Item(f"hold-expiry:{auth_id}", "expiry", "hold_expiry", account_id, currency,
                    amount, expired_at, make_plan, hold_ref=auth_id)

    def _post_items(self, items: Sequence[Item], now: datetime,
                    shard: int) -> list[PostingResult]:
        if not items:
            return []
        if not 0 <= shard < 2**31:
            raise ValueError(f"a ledger shard is a non-negative 32-bit integer, not {shard}")
        alone = False
        for attempt in range(_ATTEMPTS):
            try:
                with self._post_lock:
                    return self._post_once(items, now, shard, alone)
            except Exception as exc:
                if attempt == _ATTEMPTS - 1 or not self._lost_race(exc):
                    raise
                # Lowered balances can recur as long as the same accounts are debited on
                # several shards at once: run again alone, which cannot lose that race.
                alone = alone or isinstance(exc, BalanceLowered)
                log.warning("ledger: lost a race on shard %d (%s); retrying the batch", shard,
                            type(getattr(exc, "orig", exc)).__name__)
        raise AssertionError("unreachable")

    def _lost_race(self, exc: BaseException) -> bool:
        """A unique key another writer took first, or a deadlock or serialization failure
        the database broke by aborting this batch: both succeed when run again."""
        if isinstance(exc, BalanceLowered | IntegrityError
                      | self.engine.dialect.loaded_dbapi.IntegrityError):
            return True
        return getattr(getattr(exc, "orig", exc), "sqlstate", None) in _RETRY_SQLSTATES

    def _post_once(self, items: Sequence[Item], now: datetime, shard: int,
                   alone: bool = False) -> list[PostingResult]:
        first: dict[str, Item] = {}
        for item in items:
            first.setdefault(item.transaction_id, item)
        decided: dict[str, PostingResult] = {}
        try:
            with self.engine.begin() as conn:
                stmts = BatchStatements.open(conn)
                seq, prev_hash = stmts.lock_head(shard, alone)
                heads = stmts.heads
                guarded = self._cached_balances(heads)
                existing = stmts.existing(list(first))
                todo = [it for tid, it in first.items() if tid not in existing]
                ctx = BatchContext(stmts, conn, {it.hold_ref for it in todo if it.hold_ref},
                                   [it.occurred_at for it in todo])
                self.balance_reads += guarded.load(stmts, guarded_keys(todo))
                deltas: dict[tuple[str, str], int] = {}
                journal_rows: list[tuple[object, ...]] = []
                entry_rows: list[object] = []  # flat: ENTRY_COLUMNS values per entry
                seq, prev_hash = decide(todo, ctx, guarded, deltas, shard, seq, prev_hash,
                                        now, stmts.sqlite, journal_rows, entry_rows, decided)
                stmts.insert_journals(journal_rows)
                stmts.insert_entries(entry_rows)
                if journal_rows:
                    stmts.set_head(shard, seq, prev_hash)
                # Last: the upsert locks shared rows (fees, clearing) every shard updates, so
                # other shards wait on them only from here to the commit. With other shards
                # posting (PostgreSQL), every guarded balance a posting moved is written, even
                # if it nets to zero, so that its new value proves what it was before.
                concurrent = heads is None
                new = stmts.add_to_balances([
                    (a, c, d) for (a, c), d in deltas.items()
                    if d or (concurrent and (a, c) in guarded)])
                if concurrent:
                    _check_not_lowered(guarded, deltas, new)
        except BaseException:
            self._balances.clear()  # committed or not is unknown: trust nothing cached
            self._balances.stmts, self._cache_heads = None, None
            raise
        for key, delta in deltas.items():  # committed: the cache follows the new head
            if key in guarded:
                guarded[key] += delta
        self._cache_heads = None if heads is None else {**heads, shard: (seq, prev_hash)}
        guarded.stmts = None
        out, seen = [], set()
        for item in items:
            tid = item.transaction_id
            if tid in decided and tid not in seen:
                out.append(decided[tid])
            else:
                status, reason = existing.get(tid) or (decided[tid].journal_status,
                                                       decided[tid].reason)
                out.append(PostingResult(tid, "duplicate", reason, status))
            seen.add(tid)
        return out

    def _cached_balances(self, heads: dict[int, tuple[int, str]] | None) -> BalanceCache:
        if (heads is None or heads != self._cache_heads
                or len(self._balances) > self.balance_cache_size):
            if self._balances and heads is not None:
                log.debug("ledger: a chain head moved by another writer; balance cache dropped")
            self._balances.clear()
        return self._balances

    # -- FX rates --------------------------------------------------------------------------

    def set_rate(self, base: str, quote: str, rate: Decimal | str, as_of: datetime,
                 source: str = "manual") -> None:
        value = Decimal(str(rate))
        if value <= 0:
            raise ValueError("an FX rate must be positive")
        stmt = dialect_insert(self.engine.dialect.name)(fx_rates).on_conflict_do_update(
            index_elements=["base", "quote", "as_of"], set_={"rate": str(value),
                                                             "source": source})
        with self.engine.begin() as conn:
            conn.execute(stmt, {"base": base, "quote": quote, "as_of": as_of,
                                "rate": str(value), "source": source})

    def rate(self, base: str, quote: str, at: datetime) -> Decimal | None:
        with self.engine.connect() as conn:
            return lookup_rate(conn, base, quote, at)

    # -- reading ---------------------------------------------------------------------------

    def trial_balance(self) -> dict[str, int]:
        """Sum of all legs per currency; zero for every currency in a healthy ledger."""
        stmt = select(entries.c.currency, func.sum(entries.c.amount_minor)).group_by(
            entries.c.currency)
        with self.engine.connect() as conn:
            return {ccy: int(total) for ccy, total in conn.execute(stmt)}

    def balance(self, ledger_account: str, currency: str) -> int:
        """Signed sum of an account's legs (debit positive), derived from the entries: a scan
        of ``ledger_entries`` since revision 0003 dropped the index by account (no posting
        path reads it; for tests and diagnostics — ``ledger_balances`` holds the same sums)."""
        stmt = select(func.coalesce(func.sum(entries.c.amount_minor), 0)).where(
            entries.c.ledger_account == ledger_account, entries.c.currency == currency)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def available(self, ledger_account: str, currency: str) -> int:
        """What the account's owner may spend (credit-normal accounts flip the sign)."""
        return available(ledger_account, self.balance(ledger_account, currency))

    def journal_count(self, status: str | None = None) -> int:
        stmt = select(func.count()).select_from(journals).where(journals.c.kind == "event")
        if status:
            stmt = stmt.where(journals.c.status == status)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def statuses(self) -> dict[str, tuple[str, str | None]]:
        with self.engine.connect() as conn:
            return {r.transaction_id: (r.status, r.reason) for r in conn.execute(
                select(journals.c.transaction_id, journals.c.status, journals.c.reason)
                .where(journals.c.kind == "event"))}

    def hold_status(self, authorization_id: str) -> str | None:
        with self.engine.connect() as conn:
            ctx = BatchContext(BatchStatements.open(conn), conn, {authorization_id})
            hold = ctx.hold(authorization_id)
        return hold.status if hold else None


