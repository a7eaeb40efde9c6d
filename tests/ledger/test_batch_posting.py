"""Batch posting's shortcuts store what the plain definitions would: the SQLite pragmas it
runs under, FX rates read once per batch, the spelled-out hash, the in-process balance cache,
SQLite timestamp text built from microseconds, and rows written in bulk statements."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.contract import TransactionEvent
from core.db import make_engine
from core.settings import Settings
from ledger import Ledger, verify
from ledger.schema import journals

T0 = datetime(2026, 3, 1, tzinfo=UTC)
_ids = itertools.count()


def ev(event_type: str, amount: int, account: str = "alice", **extra: object) -> TransactionEvent:
    fields: dict[str, object] = {
        "transaction_id": f"p{next(_ids)}", "event_type": event_type, "occurred_at": T0,
        "amount_minor": amount, "currency": "EUR", "account_id": account, "country": "DE",
        "channel": "web"}
    if event_type == "merchant_payment":
        fields["merchant_id"] = "shop"
    return TransactionEvent.model_validate({**fields, **extra})


def assert_healthy(ledger: Ledger) -> None:
    report = verify(ledger)
    assert report.ok, report.render()


def _pragma(ledger: Ledger, name: str) -> object:
    with ledger.engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_sqlite_is_durable_by_default_and_tuned(tmp_path):
    ledger = Ledger.from_url(f"sqlite:///{tmp_path / 'a.db'}")
    assert _pragma(ledger, "synchronous") == 2  # FULL: every committed batch is synced
    assert _pragma(ledger, "journal_mode") == "wal"
    assert _pragma(ledger, "foreign_keys") == 1
    assert _pragma(ledger, "temp_store") == 2  # memory
    assert _pragma(ledger, "cache_size") == -65536
    ledger.engine.dispose()


def test_sqlite_synchronous_comes_from_the_settings_and_off_is_refused(tmp_path):
    settings = Settings.from_env({"FLOWLET_DATA_DIR": str(tmp_path),
                                  "FLOWLET_LEDGER_SQLITE_SYNCHRONOUS": "normal"})
    assert settings.ledger_sqlite_synchronous == "normal"
    ledger = Ledger.from_settings(settings)
    assert _pragma(ledger, "synchronous") == 1  # NORMAL
    ledger.engine.dispose()
    assert Settings().ledger_sqlite_synchronous == "FULL"
    with pytest.raises(ValueError, match="OFF can corrupt"):
        make_engine(f"sqlite:///{tmp_path / 'b.db'}", sqlite_synchronous="OFF")


# -- one statement per lookup, and the hash spelled out -------------------------------------

def test_rates_read_once_per_batch_apply_as_of_each_event(ledger: Ledger):
    """Rates change between the events of one batch: each event converts at the rate in
    force at its own time, the inverse pair is used when only it is known."""
    t0 = T0
    ledger.post_batch([ev("top_up", 10**9, occurred_at=t0 - timedelta(days=1))])
    ledger.set_rate("EUR", "USD", "1.10", t0 - timedelta(days=30))  # in force before the batch
    ledger.set_rate("EUR", "USD", "1.20", t0 + timedelta(minutes=10))
    ledger.set_rate("EUR", "USD", "1.30", t0 + timedelta(minutes=20))
    ledger.set_rate("EUR", "USD", "9.99", t0 + timedelta(days=1))  # after the batch
    ledger.set_rate("GBP", "EUR", "1.25", t0 + timedelta(minutes=5))  # only GBP->EUR known
    at = [t0, t0 + timedelta(minutes=10), t0 + timedelta(minutes=15), t0 + timedelta(hours=1)]
    batch = [ev("fx_conversion", 1000, target_currency="USD", occurred_at=t) for t in at]
    batch += [ev("fx_conversion", 1000, target_currency="GBP", occurred_at=t0),  # too early
              ev("fx_conversion", 1000, target_currency="GBP", occurred_at=at[1])]
    results = ledger.post_batch(batch)
    assert [r.status for r in results] == ["posted"] * 4 + ["rejected", "posted"]
    with ledger.engine.connect() as conn:
        recorded = dict(conn.execute(select(journals.c.transaction_id,
                                             journals.c.fx_rate)).all())
    assert [recorded[e.transaction_id] for e in batch[:4]] == ["1.10", "1.20", "1.20", "1.30"]
    assert Decimal(recorded[batch[5].transaction_id]) == Decimal(1) / Decimal("1.25")
    for e in batch:  # the same answer as the single-lookup path
        rate = ledger.rate("EUR", e.target_currency, e.occurred_at)
        assert (None if rate is None else str(rate)) == recorded[e.transaction_id]
    assert_healthy(ledger)


def test_the_posting_hash_is_the_verified_hash():
    from hypothesis import given
    from hypothesis import strategies as st

    from ledger.chain import hash_values, micros, posting_hash

    text = st.text(max_size=12)
    opt = st.none() | text
    when = st.datetimes(timezones=st.just(UTC), min_value=datetime(1900, 1, 1),
                        max_value=datetime(2200, 1, 1))
    legs = st.lists(st.tuples(text, text, st.integers(-10**15, 10**15)), max_size=6)

    @given(st.integers(1, 10**12), text, text, text, text, text, st.integers(1, 10**15), when,
           when, text, opt, opt, opt, opt, st.none() | when, opt, legs)
    def same(seq, tid, kind, et, acct, ccy, amount, occurred, posted, status, reason, refers,
             closes, rev, expires, fx, legs):
        values = (seq, tid, kind, et, acct, ccy, amount, occurred, posted, status, reason,
                  refers, closes, rev, expires, fx)
        numbered = [(i, *leg) for i, leg in enumerate(legs)]
        assert posting_hash("p" * 64, seq, tid, kind, et, acct, ccy, amount, micros(occurred),
                            micros(posted), status, reason, refers, closes, rev,
                            expires and micros(expires), fx, legs) == hash_values(
            "p" * 64, values, numbered)

    same()
    # and a zone other than UTC means the same instant
    cet = datetime(2026, 1, 1, 1, tzinfo=UTC).astimezone(timezone(timedelta(hours=1)))
    assert posting_hash("0", 1, "t", "e", "x", "a", "EUR", 1, micros(cet), micros(cet),
                        "posted", None, None, None, None, None, None, []) == hash_values(
        "0", (1, "t", "e", "x", "a", "EUR", 1, cet, cet, "posted") + (None,) * 6, [])


# -- the in-process balance cache ------------------------------------------------------------

def _wallet(ledger: Ledger, account: str = "alice") -> int:
    return ledger.available(f"customer:{account}:wallet", "EUR")


def _heads(ledger: Ledger) -> dict[int, tuple[int, str]]:
    with ledger.engine.connect() as conn:
        return {s: (q, h) for s, q, h in conn.exec_driver_sql(
            "SELECT shard, seq, hash FROM ledger_chain_head")}


def _assert_cache_exact(ledger: Ledger) -> None:
    """Whatever the ledger would trust without reading is the sum of the entries."""
    if ledger._cache_heads == _heads(ledger):
        for (account, ccy), cached in dict(ledger._balances).items():
            assert cached == ledger.balance(account, ccy), (account, ccy)


def test_balance_cache_is_read_once_while_no_other_writer_posts(ledger: Ledger):
    ledger.post_batch([ev("top_up", 1000)])
    reads = ledger.balance_reads
    ledger.post_batch([ev("merchant_payment", 100), ev("merchant_payment", 100)])
    if ledger.engine.dialect.name == "sqlite":
        assert ledger.balance_reads == reads  # alice's wallet and holds came from the cache
    else:  # other shards may post meanwhile: read (row-locked) in every batch, never cached
        assert ledger.balance_reads > reads and ledger._cache_heads is None
    assert _wallet(ledger) == 800
    _assert_cache_exact(ledger)
    assert_healthy(ledger)


@pytest.mark.parametrize("other_shard", [0, 1])
def test_balance_cache_is_dropped_when_another_writer_moved_a_head(ledger: Ledger,
                                                                   ledger_url: str,
                                                                   other_shard: int):
    """The other writer posts on this writer's shard (0) or its own (1): either way the
    balances it lowered are read again, not trusted from the cache."""
    other = Ledger.from_url(ledger_url)
    assert ledger.post_batch([ev("top_up", 1000)])[0].status == "posted"  # cached: 1000
    assert other.post_batch([ev("merchant_payment", 800)],
                            shard=other_shard)[0].status == "posted"
    reads = ledger.balance_reads
    late = ledger.post_batch([ev("merchant_payment", 500)])[0]  # 200 left, not 1000
    assert late.status == "rejected" and "has 200 EUR available" in late.reason
    assert ledger.balance_reads > reads
    assert other.post_batch([ev("merchant_payment", 150)],
                            shard=other_shard)[0].status == "posted"
    assert ledger.post_batch([ev("merchant_payment", 100)])[0].status == "rejected"
    assert _wallet(ledger) == 50
    for led in (ledger, other):
        _assert_cache_exact(led)
    assert_healthy(ledger)
    other.engine.dispose()


def test_two_writers_alternating_keep_the_cache_equal_to_the_entries(ledger: Ledger,
                                                                     ledger_url: str):
    from simulator import Simulator

    events = [t.event for t in Simulator(seed=3, n_accounts=12, n_merchants=4).generate(
        600, T0, T0 + timedelta(days=3))]
    other = Ledger.from_url(ledger_url)
    writers = [ledger, other]
    for n, start in enumerate(range(0, len(events), 40)):
        writer = writers[(n * 7 // 3) % 2]  # runs of the same writer, then the other
        writer.post_batch(events[start:start + 40])
        if n % 3 == 0:
            writer.post_batch(events[max(0, start - 20):start + 10])  # redeliveries
        for led in writers:
            _assert_cache_exact(led)
    assert ledger.journal_count() == len({e.transaction_id for e in events})
    assert_healthy(ledger)
    other.engine.dispose()


def test_a_failed_batch_empties_the_cache(ledger: Ledger, monkeypatch):
    from ledger import bulk

    ledger.post_batch([ev("top_up", 1000)])
    assert ledger._balances

    def boom(self, rows):  # type: ignore[no-untyped-def]
        raise RuntimeError("connection lost")

    with monkeypatch.context() as m:
        m.setattr(bulk.BatchStatements, "insert_journals", boom)
        m.setattr(bulk._Sqlite, "insert_journals", boom)
        m.setattr(bulk._Postgres, "insert_journals", boom)
        with pytest.raises(RuntimeError):
            ledger.post_batch([ev("merchant_payment", 300)])
    assert not ledger._balances and ledger._cache_heads is None
    assert ledger.post_batch([ev("merchant_payment", 1000)])[0].status == "posted"
    assert _wallet(ledger) == 0
    assert_healthy(ledger)


def test_sqlite_timestamps_are_the_text_sqlalchemy_would_store():
    from hypothesis import given
    from hypothesis import strategies as st
    from sqlalchemy.dialects import sqlite

    from core.db import UTCDateTime
    from ledger.chain import micros
    from ledger.decide import sqlite_ts_us

    bind = UTCDateTime()._cached_bind_processor(sqlite.dialect())

    @given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7)),
                                                   timezone(timedelta(hours=5, minutes=30))])))
    def same(value):
        assert sqlite_ts_us(micros(value)) == bind(value)

    same()


def test_a_large_mixed_batch_stores_every_column_as_decided(ledger: Ledger):
    """Batches larger than one multi-row INSERT, with every journal shape (rejections with a
    reason, holds with expiry, captures and voids closing them, refunds, FX with a rate):
    the rows read back are the rows decided — column by column, NULLs included — and the
    chain verifies."""
    from ledger.bulk import JOURNAL_COLUMNS
    from simulator import Simulator

    events = [t.event for t in Simulator(seed=11, n_accounts=15, n_merchants=4).generate(
        700, T0, T0 + timedelta(days=2))]
    events += [ev("merchant_payment", 10**12, account="nobody")]  # rejected: a reason
    decided = {}
    for start in range(0, len(events), 237):  # 237: four full multi-row INSERTs + a tail
        decided.update({r.transaction_id: r for r in ledger.post_batch(
            events[start:start + 237])})
    assert_healthy(ledger)
    with ledger.engine.connect() as conn:
        rows = {r.transaction_id: r for r in conn.execute(select(journals)).mappings()}
    assert set(rows) == set(decided)
    for tid, result in decided.items():
        assert (rows[tid]["status"], rows[tid]["reason"]) == (result.status, result.reason)
    shapes = {tuple(rows[t][c] is None for c in JOURNAL_COLUMNS[10:16]) for t in rows}
    assert len(shapes) >= 4, shapes  # several NULL patterns went through the grouped insert
    by_type = {}
    for e in events:
        by_type.setdefault(e.event_type.value, e)
    auth = rows[by_type["card_authorization"].transaction_id]
    assert auth["expires_at"] == by_type["card_authorization"].occurred_at + ledger.hold_ttl
    assert any(r["fx_rate"] for r in rows.values())
    assert any(r["closes_hold"] for r in rows.values())
    assert rows[events[-1].transaction_id]["reason"].startswith("insufficient funds")
