"""One hash chain per shard: each verified on its own, tampering named by shard, concurrent
shards on PostgreSQL never overdraw or lose a balance update, holds and reversals across
shards, and a ledger from before shards migrating to shard 0 with its chain intact."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import delete, select, text, update

from core.contract import TransactionEvent
from core.db import make_engine
from ledger import Ledger, verify
from ledger.chain import GENESIS, genesis, journal_hash
from ledger.migrate import alembic_config, migrate
from ledger.schema import entries, journals

T0 = datetime(2026, 2, 1, tzinfo=UTC)
_ids = itertools.count()


def ev(event_type: str, amount: int, account: str = "alice", **extra: object) -> TransactionEvent:
    fields: dict[str, object] = {
        "transaction_id": extra.pop("transaction_id", f"s{next(_ids)}"),
        "event_type": event_type, "occurred_at": extra.pop("occurred_at", T0),
        "amount_minor": amount, "currency": "EUR", "account_id": account, "country": "DE",
        "channel": "web"}
    if event_type in ("merchant_payment", "card_authorization", "card_capture", "card_void"):
        fields["merchant_id"] = "shop"
    return TransactionEvent.model_validate({**fields, **extra})


def assert_healthy(ledger: Ledger) -> None:
    report = verify(ledger)
    assert report.ok, report.render()


def _post_on_three_shards(ledger: Ledger) -> None:
    for shard in (0, 1, 2):
        account = f"acct{shard}"
        ledger.post_batch([ev("top_up", 5000, account)] + [
            ev("merchant_payment", 100 + i, account) for i in range(6)], shard=shard)


def test_each_shard_has_its_own_chain_and_verify_reports_every_head(ledger: Ledger):
    _post_on_three_shards(ledger)
    ledger.post_batch([ev("withdrawal", 50, "acct1")], shard=1)
    report = verify(ledger)
    assert report.ok, report.render()
    assert {s: seq for s, (seq, _) in report.heads.items()} == {0: 7, 1: 8, 2: 7}
    with ledger.engine.connect() as conn:
        firsts = dict(conn.execute(select(journals.c.shard, journals.c.prev_hash)
                                   .where(journals.c.seq == 1)).all())
    assert firsts == {0: GENESIS, 1: genesis(1), 2: genesis(2)}
    rendered = report.render()
    for shard in (0, 1, 2):
        assert f"shard {shard}: seq {report.heads[shard][0]} {report.heads[shard][1]}" in rendered


def _drop_guards(ledger: Ledger) -> None:
    with ledger.engine.begin() as conn:
        for table in ("ledger_entries", "ledger_journals"):
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"DROP TRIGGER {table}_immutable ON {table}"))
            else:
                for action in ("update", "delete"):
                    conn.execute(text(f"DROP TRIGGER {table}_no_{action}"))


@pytest.mark.parametrize("tamper", ["alter_amount", "delete_last", "move_to_other_shard"])
def test_tampering_with_one_shard_fails_verify_naming_that_shard(ledger: Ledger, tamper: str):
    _post_on_three_shards(ledger)
    assert_healthy(ledger)
    _drop_guards(ledger)
    with ledger.engine.begin() as conn:
        if tamper == "alter_amount":  # both legs: the journal still balances
            conn.execute(update(entries).where(entries.c.journal_shard == 1,
                                               entries.c.journal_seq == 3)
                         .values(amount_minor=entries.c.amount_minor * 2))
        elif tamper == "delete_last":  # the end of shard 1's chain, entries and all
            conn.execute(delete(entries).where(entries.c.journal_shard == 1,
                                               entries.c.journal_seq == 7))
            conn.execute(delete(journals).where(journals.c.shard == 1, journals.c.seq == 7))
        else:  # shard 1's whole chain relabelled as a new shard 5 (seqs and links intact)
            conn.execute(text("ALTER TABLE ledger_entries DROP CONSTRAINT "
                              "fk_ledger_entries_journal") if conn.dialect.name ==
                         "postgresql" else text("PRAGMA foreign_keys = OFF"))
            conn.execute(update(entries).where(entries.c.journal_shard == 1)
                         .values(journal_shard=5))
            conn.execute(update(journals).where(journals.c.shard == 1).values(shard=5))
            conn.execute(text("UPDATE ledger_chain_head SET shard = 5 WHERE shard = 1"))
    report = verify(ledger)
    assert not report.ok
    chain = [p for p in report.problems if p.startswith("shard ")]
    assert chain, report.render()
    bad = "shard 5" if tamper == "move_to_other_shard" else "shard 1"
    assert all(p.startswith(bad) for p in chain), report.render()
    if tamper == "alter_amount":
        assert any("journal seq 3" in p and "hash mismatch" in p for p in chain)
    elif tamper == "delete_last":
        assert any("chain head (seq 7)" in p for p in chain)
    else:
        assert any("genesis" in p for p in chain)


def test_holds_and_reversals_work_across_shards(ledger: Ledger):
    """An authorization on one shard, its capture or void on another; hold expiry and a
    reversal run on a third: each hold is still released exactly once."""
    ledger.post_batch([ev("top_up", 10_000), ev("top_up", 10_000, "bob")], shard=0)
    auth = ev("card_authorization", 1000)
    auth2 = ev("card_authorization", 700)
    lapsing = ev("card_authorization", 300, occurred_at=T0 - timedelta(days=30))
    ledger.post_batch([auth, auth2, lapsing], shard=1)
    cap = ev("card_capture", 900, original_transaction_id=auth.transaction_id)
    assert ledger.post_batch([cap], shard=2)[0].status == "posted"
    void = ev("card_void", 700, original_transaction_id=auth2.transaction_id)
    again = ev("card_void", 700, original_transaction_id=auth2.transaction_id)
    results = ledger.post_batch([void], shard=3) + ledger.post_batch([again], shard=0)
    assert [r.status for r in results] == ["posted", "rejected"]
    expired = ledger.expire_holds(T0 + timedelta(days=1), shard=4)
    assert [r.transaction_id for r in expired] == [f"hold-expiry:{lapsing.transaction_id}"]
    assert ledger.expire_holds(T0 + timedelta(days=1), shard=5) == []
    pay = ev("p2p_transfer", 2500, counterparty_account_id="bob")
    ledger.post_batch([pay], shard=1)
    assert ledger.reverse(pay.transaction_id, "sent twice", shard=2).status == "posted"
    assert ledger.reverse(pay.transaction_id, "again", shard=3).status == "duplicate"
    assert ledger.available("customer:alice:wallet", "EUR") == 10_000 - 900
    assert ledger.available("customer:alice:holds", "EUR") == 0
    assert ledger.available("customer:bob:wallet", "EUR") == 10_000
    assert_healthy(ledger)


def test_a_redelivery_on_another_shard_is_a_duplicate(ledger: Ledger):
    top = ev("top_up", 500)
    assert ledger.post_batch([top], shard=3)[0].status == "posted"
    (again,) = ledger.post_batch([top], shard=7)
    assert (again.status, again.journal_status) == ("duplicate", "posted")
    assert ledger.available("customer:alice:wallet", "EUR") == 500
    assert_healthy(ledger)


def test_a_shard_must_be_a_non_negative_int32(ledger: Ledger):
    with pytest.raises(ValueError, match="shard"):
        ledger.post_batch([ev("top_up", 1)], shard=-1)


# -- concurrency: two shards, one account ----------------------------------------------------

@pytest.mark.integration
def test_a_shard_whose_read_balance_was_lowered_meanwhile_posts_again_on_postgresql(
        ledger_url):
    """The race made to happen: shard 1 has read alice's balance (1000) and pauses before it
    writes; shard 2 debits 800 from the same wallet meanwhile and commits. Shard 1's upsert
    then finds 200 where it read 1000: its batch is rolled back and run again, and rejects.
    Without that check both would have debited the 1000 they read."""
    if not ledger_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time; the race is PostgreSQL's")
    first, second = Ledger.from_url(ledger_url), Ledger.from_url(ledger_url)
    first.post_batch([ev("top_up", 1000)])
    read, second_done = threading.Event(), threading.Event()
    load = first._balances.load

    def load_then_pause(stmts, keys):  # type: ignore[no-untyped-def]
        n = load(stmts, keys)
        read.set()
        second_done.wait(timeout=10)
        return n

    first._balances.load = load_then_pause  # type: ignore[method-assign]
    out: dict[int, list] = {}

    def post(ledger: Ledger, shard: int) -> None:
        out[shard] = ledger.post_batch([ev("withdrawal", 800)], shard=shard)
        if shard == 2:
            second_done.set()

    a = threading.Thread(target=post, args=(first, 1))
    a.start()
    assert read.wait(timeout=10)
    b = threading.Thread(target=post, args=(second, 2))
    b.start()
    a.join()
    b.join()
    assert out[2][0].status == "posted"
    assert out[1][0].status == "rejected" and "has 200 EUR available" in out[1][0].reason
    assert first.available("customer:alice:wallet", "EUR") == 200
    assert_healthy(first)
    for led in (first, second):
        led.engine.dispose()


@pytest.mark.integration
def test_two_shards_debiting_one_wallet_concurrently_never_overdraw_on_postgresql(ledger_url):
    """Two writers on two shards (their own connections, at once) withdraw from the same two
    wallets and pay each other: without row locks each would read the same balance and both
    debit it. Exactly what the funds allow is posted, no update is lost, nothing overdraws."""
    if not ledger_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time; the race is PostgreSQL's")
    setup = Ledger.from_url(ledger_url)
    setup.post_batch([ev("top_up", 1000, "alice"), ev("top_up", 1000, "bob")])
    writers = [Ledger.from_url(ledger_url) for _ in range(2)]
    start = threading.Barrier(2)
    results: list[list] = [[], []]
    withdrawals: set[str] = set()
    errors: list[BaseException] = []

    def run(n: int) -> None:
        me, other = ("alice", "bob") if n == 0 else ("bob", "alice")
        try:
            start.wait()
            for i in range(60):
                batch = [ev("withdrawal", 10, "alice"), ev("withdrawal", 10, "bob"),
                         ev("p2p_transfer", 5, me, counterparty_account_id=other)]
                withdrawals.update(e.transaction_id for e in batch[:2])
                if i % 2:
                    batch.reverse()
                results[n] += writers[n].post_batch(batch, shard=n + 1)
        except BaseException as exc:  # reported below: a thread's failure fails the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    posted = [r for rs in results for r in rs if r.status == "posted"]
    rejected = [r for rs in results for r in rs if r.status == "rejected"]
    assert rejected and all("insufficient funds" in r.reason for r in rejected)
    for account in ("alice", "bob"):
        balance = setup.available(f"customer:{account}:wallet", "EUR")
        assert 0 <= balance < 10 + 5  # drained: nothing left a withdrawal or payment could take
    # Every posted leg landed exactly once in the cached balances (no lost update)...
    assert_healthy(setup)
    # ...and the money out is what came in: 2000 minus what is left.
    withdrawn = 10 * sum(1 for r in posted if r.transaction_id in withdrawals)
    left = sum(setup.available(f"customer:{a}:wallet", "EUR") for a in ("alice", "bob"))
    assert withdrawn + left == 2000
    for led in (setup, *writers):
        led.engine.dispose()


# -- migration of a ledger from before shards ------------------------------------------------

def _single_chain_ledger(url: str) -> tuple[int, str]:
    """A ledger at revision 0003 (one chain, head row id 1) with a few journals written as
    that revision's code wrote them; returns its head."""
    engine = make_engine(url)
    migrate(engine, "0003")
    prev, seq = GENESIS, 0
    posted = datetime(2026, 2, 2, tzinfo=UTC)
    plans = [("top_up", "alice", 1000, [("customer:alice:wallet", -1000),
                                         ("clearing:bank", 1000)]),
             ("withdrawal", "alice", 300, [("clearing:bank", -300),
                                           ("customer:alice:wallet", 300)]),
             ("withdrawal", "alice", 9000, [])]
    with engine.begin() as conn:
        for event_type, account, amount, legs in plans:
            seq += 1
            row = {"seq": seq, "transaction_id": f"old{seq}", "kind": "event",
                   "event_type": event_type, "account_id": account, "currency": "EUR",
                   "amount_minor": amount, "occurred_at": T0, "posted_at": posted,
                   "status": "posted" if legs else "rejected",
                   "reason": None if legs else "insufficient funds: old", "refers_to": None,
                   "closes_hold": None, "reversal_of": None, "expires_at": None,
                   "fx_rate": None}
            digest = journal_hash(prev, row, [(i, a, "EUR", m) for i, (a, m) in
                                              enumerate(legs)])
            conn.execute(text(
                "INSERT INTO ledger_journals (seq, transaction_id, kind, event_type, "
                "account_id, currency, amount_minor, occurred_at, posted_at, status, reason, "
                "prev_hash, hash) VALUES (:seq, :transaction_id, :kind, :event_type, "
                ":account_id, :currency, :amount_minor, :occurred_at, :posted_at, :status, "
                ":reason, :prev_hash, :hash)"), {**row, "prev_hash": prev, "hash": digest})
            for i, (acct, amount_) in enumerate(legs):
                conn.execute(text(
                    "INSERT INTO ledger_entries (journal_seq, leg, ledger_account, currency, "
                    "amount_minor) VALUES (:s, :l, :a, 'EUR', :m)"),
                    {"s": seq, "l": i, "a": acct, "m": amount_})
            prev = digest
        conn.execute(text("INSERT INTO ledger_balances VALUES "
                          "('customer:alice:wallet', 'EUR', -700), ('clearing:bank', 'EUR', 700)"))
        conn.execute(text("UPDATE ledger_chain_head SET seq = :s, hash = :h WHERE id = 1"),
                     {"s": seq, "h": prev})
    engine.dispose()
    return seq, prev


def test_a_single_chain_ledger_migrates_to_shard_0_and_keeps_verifying(ledger_url):
    head = _single_chain_ledger(ledger_url)
    ledger = Ledger.from_url(ledger_url)  # upgrades to head
    report = verify(ledger)
    assert report.ok, report.render()
    assert report.heads == {0: head}
    with ledger.engine.connect() as conn:
        assert set(conn.execute(select(journals.c.shard)).scalars()) == {0}
        assert set(conn.execute(select(entries.c.journal_shard)).scalars()) == {0}
    assert ledger.post_batch([ev("withdrawal", 200)])[0].status == "posted"  # shard 0: seq 4
    assert ledger.post_batch([ev("withdrawal", 600)], shard=1)[0].status == "rejected"
    assert ledger.post_batch([ev("withdrawal", 500)], shard=1)[0].status == "posted"
    report = verify(ledger)
    assert report.ok, report.render()
    assert report.heads[0][0] == 4 and report.heads[1][0] == 2
    assert ledger.available("customer:alice:wallet", "EUR") == 0
    ledger.engine.dispose()


def test_downgrading_below_shards_refuses_a_ledger_with_other_shards(ledger_url):
    ledger = Ledger.from_url(ledger_url)
    ledger.post_batch([ev("top_up", 100)], shard=2)
    cfg = alembic_config()
    with pytest.raises(RuntimeError, match="shards other than 0"), \
            ledger.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
    assert_healthy(ledger)  # the failed downgrade rolled back whole
    ledger.engine.dispose()


# -- the bench's workers -----------------------------------------------------------------------

@pytest.mark.slow
def test_the_ledger_bench_posts_every_event_with_two_workers_on_their_own_shards(ledger_url):
    from flowlet.bench.ledger import _ledger_events, _post_with_workers, _split_by_account

    events = _ledger_events(800)
    parts = _split_by_account(events, 2)
    assert sorted(e.transaction_id for p in parts for e in p) == sorted(
        e.transaction_id for e in events)
    assert not {e.account_id for e in parts[0]} & {e.account_id for e in parts[1]}
    ledger = Ledger.from_url(ledger_url)  # the schema, before the workers fork
    ledger.engine.dispose()
    done = _post_with_workers(ledger_url, events, 100, workers=2)
    assert len(done) == 2 and all(d["end"] >= d["start"] for d in done)
    assert sum(n for d in done for n in d["statuses"].values()) == 800
    report = verify(ledger)
    assert report.ok, report.render()
    assert set(report.heads) == {0, 1} and report.journals == 800
    ledger.engine.dispose()
