"""The ledger's guarantees, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from core.contract import EventType, TransactionEvent
from ledger import Ledger, legs, plan, verify
from ledger.accounts import allows_overdraft, available, kind_of
from ledger.chain import journal_hash
from ledger.recipes import NoContext
from ledger.schema import balances, entries, journals
from simulator import Simulator

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HISTORY = [t.event for t in Simulator(seed=9, n_accounts=30, n_merchants=8).generate(
    400, T0, T0 + timedelta(days=2))]
_ids = itertools.count()


def ev(event_type: str, amount: int, account: str = "alice", currency: str = "EUR",
       **extra: object) -> TransactionEvent:
    base: dict[str, object] = {
        "transaction_id": extra.pop("transaction_id", f"t{next(_ids)}"),
        "event_type": event_type, "occurred_at": extra.pop("occurred_at", T0),
        "amount_minor": amount, "currency": currency, "account_id": account,
        "country": "DE", "channel": "web"}
    if event_type in ("merchant_payment", "card_authorization", "card_capture", "refund",
                      "chargeback", "card_void"):
        base["merchant_id"] = "shop"
    base.update(extra)
    return TransactionEvent.model_validate(base)


def wallet_available(ledger: Ledger, account: str = "alice", ccy: str = "EUR") -> int:
    return ledger.available(f"customer:{account}:wallet", ccy)


def assert_healthy(ledger: Ledger) -> None:
    report = verify(ledger)
    assert report.ok, report.render()
    assert set(ledger.trial_balance().values()) <= {0}


# -- chart and recipes -----------------------------------------------------------------------

def test_chart_of_accounts():
    assert kind_of("customer:x:wallet") == "customer_wallet"
    assert kind_of("merchant:m") == "merchant"
    assert kind_of("clearing:card_scheme") == "card_scheme_clearing"
    assert kind_of("suspense") == "suspense"
    assert not allows_overdraft("customer:x:wallet") and allows_overdraft("clearing:bank")
    with pytest.raises(ValueError):
        kind_of("bogus")


def test_every_simulated_recipe_is_balanced_per_currency():
    seen = set()
    for e in HISTORY:
        p = plan(e, NoContext())
        if p.rejection:  # captures/voids need the ledger's holds
            assert e.event_type in (EventType.CARD_CAPTURE, EventType.CARD_VOID)
            continue
        seen.add(e.event_type)
        per_ccy: dict[str, int] = {}
        for leg in p.legs:
            assert isinstance(leg.amount_minor, int) and leg.amount_minor != 0
            per_ccy[leg.currency] = per_ccy.get(leg.currency, 0) + leg.amount_minor
        assert set(per_ccy.values()) == {0}, e
    assert {EventType.TOP_UP, EventType.P2P_TRANSFER, EventType.FX_CONVERSION,
            EventType.CARD_AUTHORIZATION, EventType.WITHDRAWAL} <= seen


# -- posting rules ---------------------------------------------------------------------------

def test_posting_is_idempotent_and_returns_the_original_result(ledger: Ledger):
    first = ledger.post_batch(HISTORY[:200])
    assert all(r.status in ("posted", "rejected") for r in first)
    again = ledger.post_batch(HISTORY[100:300] + HISTORY[:5])
    assert [r.status for r in again[:100]] == ["duplicate"] * 100
    assert [r.journal_status for r in again[:100]] == [r.status for r in first[100:200]]
    assert all(r.status != "duplicate" for r in again[100:200])
    assert [r.status for r in again[200:]] == ["duplicate"] * 5
    assert ledger.journal_count() == 300
    assert_healthy(ledger)


def test_duplicates_inside_one_batch_post_once(ledger: Ledger):
    top = ev("top_up", 1000)
    results = ledger.post_batch([top, top, ev("withdrawal", 300)])
    assert [r.status for r in results] == ["posted", "duplicate", "posted"]
    assert wallet_available(ledger) == 700


def test_overdraft_is_rejected_recorded_and_visible(ledger: Ledger):
    ledger.post_batch([ev("top_up", 1000)])
    big = ev("withdrawal", 1500)
    (result,) = ledger.post_batch([big])
    assert result.status == "rejected"
    assert "insufficient funds" in result.reason and "1000 EUR available" in result.reason
    assert wallet_available(ledger) == 1000
    assert ledger.statuses()[big.transaction_id] == ("rejected", result.reason)
    assert ledger.journal_count("rejected") == 1
    # In one batch, later postings see earlier ones: the second spend of 600 is refused.
    results = ledger.post_batch([ev("withdrawal", 600), ev("withdrawal", 600)])
    assert [r.status for r in results] == ["posted", "rejected"]
    assert_healthy(ledger)


def test_fees_go_to_fee_revenue(ledger: Ledger):
    ledger.post_batch([ev("top_up", 5000), ev("withdrawal", 1000, fee_minor=250)])
    assert wallet_available(ledger) == 3750
    assert ledger.available("fees:revenue", "EUR") == 250
    assert_healthy(ledger)


def test_two_phase_card_flow_releases_each_hold_exactly_once(ledger: Ledger):
    ledger.post_batch([ev("top_up", 10_000)])
    a1, a2, a3 = (ev("card_authorization", 3000) for _ in range(3))
    ledger.post_batch([a1, a2, a3])
    assert wallet_available(ledger) == 1000
    assert ledger.available("customer:alice:holds", "EUR") == 9000
    assert ledger.hold_status(a1.transaction_id) == "pending"

    cap = ev("card_capture", 2500, original_transaction_id=a1.transaction_id)
    void = ev("card_void", 3000, original_transaction_id=a2.transaction_id)
    again = ev("card_capture", 2500, original_transaction_id=a1.transaction_id)
    results = ledger.post_batch([cap, void, again])
    assert [r.status for r in results] == ["posted", "posted", "rejected"]
    assert "not pending (captured)" in results[2].reason
    assert ledger.hold_status(a1.transaction_id) == "captured"
    assert ledger.hold_status(a2.transaction_id) == "voided"
    assert wallet_available(ledger) == 10_000 - 2500 - 3000  # a3 still held
    assert ledger.available("clearing:card_scheme", "EUR") == 2500

    assert ledger.expire_holds(T0 + timedelta(days=1)) == []  # not due yet
    expired = ledger.expire_holds(T0 + timedelta(days=8))
    assert [r.status for r in expired] == ["posted"]
    assert ledger.expire_holds(T0 + timedelta(days=9)) == []  # exactly once
    assert ledger.hold_status(a3.transaction_id) == "expired"
    late = ev("card_capture", 3000, original_transaction_id=a3.transaction_id)
    assert "not pending (expired)" in ledger.post_batch([late])[0].reason
    assert ledger.available("customer:alice:holds", "EUR") == 0
    assert wallet_available(ledger) == 10_000 - 2500
    assert_healthy(ledger)


def test_auth_and_capture_in_the_same_batch(ledger: Ledger):
    auth = ev("card_authorization", 400)
    cap = ev("card_capture", 400, original_transaction_id=auth.transaction_id)
    results = ledger.post_batch([ev("top_up", 500), auth, cap])
    assert [r.status for r in results] == ["posted", "posted", "posted"]
    assert wallet_available(ledger) == 100


def test_fx_conversion_at_given_amount_and_at_ledger_rates(ledger: Ledger):
    ledger.post_batch([ev("top_up", 100_000)])
    given_amount = ev("fx_conversion", 10_000, target_currency="USD",
                      target_amount_minor=10_800)
    no_rate = ev("fx_conversion", 10_000, target_currency="JPY")
    results = ledger.post_batch([given_amount, no_rate])
    assert results[0].status == "posted"
    assert results[1].status == "rejected" and "no EUR->JPY FX rate" in results[1].reason
    ledger.set_rate("EUR", "JPY", "161.25", T0 - timedelta(hours=1), source="test")
    ledger.set_rate("EUR", "JPY", "999", T0 + timedelta(hours=1))  # not yet valid at T0
    (r,) = ledger.post_batch([ev("fx_conversion", 10_000, target_currency="JPY")])
    assert r.status == "posted"
    assert wallet_available(ledger, ccy="JPY") == 16_125  # JPY has no minor unit
    assert wallet_available(ledger, ccy="USD") == 10_800
    assert ledger.available("fx:position", "EUR") == 20_000
    assert ledger.rate("JPY", "EUR", T0) == Decimal(1) / Decimal("161.25")
    with ledger.engine.connect() as conn:
        rates = dict(conn.execute(select(journals.c.transaction_id, journals.c.fx_rate)).all())
    assert rates[given_amount.transaction_id] == "1.08"
    assert_healthy(ledger)


def test_reversal_restores_balances_and_happens_once(ledger: Ledger):
    pay = ev("merchant_payment", 700)
    ledger.post_batch([ev("top_up", 1000), pay])
    result = ledger.reverse(pay.transaction_id, "duplicate charge reported by the merchant")
    assert result.status == "posted"
    assert wallet_available(ledger) == 1000
    assert ledger.available("merchant:shop", "EUR") == 0
    assert ledger.reverse(pay.transaction_id, "again").status == "duplicate"
    over = ev("withdrawal", 5000)
    ledger.post_batch([over])
    assert ledger.reverse(over.transaction_id, "x").status == "rejected"
    with ledger.engine.connect() as conn:
        row = conn.execute(select(journals).where(
            journals.c.transaction_id == f"reversal:{pay.transaction_id}")).one()
    assert (row.kind, row.reversal_of) == ("reversal", pay.transaction_id)
    assert_healthy(ledger)


def test_hold_journals_and_reversals_cannot_be_reversed(ledger: Ledger):
    auth = ev("card_authorization", 300)
    cap_auth = ev("card_authorization", 200)
    ledger.post_batch([ev("top_up", 1000), auth, cap_auth])
    (cap,) = ledger.post_batch([ev("card_capture", 200,
                                   original_transaction_id=cap_auth.transaction_id)])
    for tid in (auth.transaction_id, cap_auth.transaction_id):
        result = ledger.reverse(tid, "x")
        assert result.status == "rejected" and "card hold" in result.reason
    assert ledger.reverse(cap.transaction_id, "x").status == "rejected"
    void = ev("card_void", 300, original_transaction_id=auth.transaction_id)
    assert ledger.post_batch([void])[0].status == "posted"  # released once, by the void
    assert ledger.available("customer:alice:holds", "EUR") == 0
    pay = ev("merchant_payment", 100)
    ledger.post_batch([pay])
    assert ledger.reverse(pay.transaction_id, "x").status == "posted"
    again = ledger.reverse(f"reversal:{pay.transaction_id}", "x")
    assert again.status == "rejected" and "cannot be reversed" in again.reason
    assert_healthy(ledger)


def test_balances_cache_equals_entries(ledger: Ledger):
    ledger.post_batch(HISTORY)
    with ledger.engine.connect() as conn:
        cached = {(r.ledger_account, r.currency): r.balance for r in conn.execute(
            select(balances))}
    for (account, ccy), value in cached.items():
        assert ledger.balance(account, ccy) == value
    assert_healthy(ledger)


# -- immutability and tamper evidence --------------------------------------------------------

def test_entries_and_journals_refuse_update_and_delete(ledger: Ledger):
    ledger.post_batch([ev("top_up", 1000)])
    for stmt in (update(entries).values(amount_minor=1), delete(entries),
                 update(journals).values(reason="x"), delete(journals)):
        with pytest.raises(DBAPIError, match="immutable"), ledger.engine.begin() as conn:
            conn.execute(stmt)


def _drop_guards(ledger: Ledger) -> None:
    """What an attacker with DDL rights would do first."""
    with ledger.engine.begin() as conn:
        for table in ("ledger_entries", "ledger_journals"):
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"DROP TRIGGER {table}_immutable ON {table}"))
            else:
                for action in ("update", "delete"):
                    conn.execute(text(f"DROP TRIGGER {table}_no_{action}"))


@pytest.mark.parametrize("tamper", ["alter_amount", "alter_journal", "delete_journal",
                                    "insert_journal", "alter_cached_balance"])
def test_tampering_is_detected_and_the_row_named(ledger: Ledger, tamper: str):
    events = [ev("top_up", 5000)] + [ev("merchant_payment", 100 + i) for i in range(10)]
    ledger.post_batch(events)
    assert_healthy(ledger)
    victim = events[4].transaction_id
    _drop_guards(ledger)
    with ledger.engine.begin() as conn:
        seq = conn.execute(select(journals.c.seq).where(
            journals.c.transaction_id == victim)).scalar_one()
        if tamper == "alter_amount":  # both legs, so the journal still balances
            conn.execute(update(entries).where(entries.c.journal_seq == seq)
                         .values(amount_minor=entries.c.amount_minor * 2))
        elif tamper == "alter_journal":
            conn.execute(update(journals).where(journals.c.seq == seq)
                         .values(account_id="mallory"))
        elif tamper == "delete_journal":
            conn.execute(delete(entries).where(entries.c.journal_seq == seq))
            conn.execute(delete(journals).where(journals.c.seq == seq))
        elif tamper == "insert_journal":  # appended with a correct link and hash
            last = conn.execute(select(journals).order_by(journals.c.seq.desc()).limit(1)
                                ).mappings().one()
            forged = {**last, "seq": last["seq"] + 1, "transaction_id": "forged",
                      "prev_hash": last["hash"]}
            forged["hash"] = journal_hash(last["hash"], forged, [])
            conn.execute(insert(journals).values(forged))
        else:
            conn.execute(update(balances).where(balances.c.ledger_account == "merchant:shop")
                         .values(balance=balances.c.balance - 1))
    report = verify(ledger)
    assert not report.ok
    text_ = report.render()
    if tamper == "alter_cached_balance":
        assert "cached balance of merchant:shop EUR" in text_
    elif tamper == "insert_journal":
        assert "chain head" in text_ and "(forged)" in text_
    else:
        assert f"journal seq {seq}" in text_ or f"seq {seq + 1}" in text_, text_
        if tamper != "delete_journal":
            assert victim in text_


def test_verify_flags_accepted_transactions_missing_from_the_ledger(ledger: Ledger):
    ledger.post_batch([ev("top_up", 100, transaction_id="known")])
    report = verify(ledger, accepted_ids=["known", "lost-1"])
    assert report.problems == [
        "accepted transaction lost-1 has no journal (neither posted nor rejected)"]


# -- concurrency and properties --------------------------------------------------------------

def test_two_workers_posting_overlapping_batches_post_each_once(ledger: Ledger,
                                                                ledger_url: str):
    other = Ledger.from_url(ledger_url)
    batches = [HISTORY[i:i + 40] for i in range(0, 400, 40)]
    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(lambda: [r for b in batches for r in ledger.post_batch(b)])
        b = pool.submit(lambda: [r for b in reversed(batches) for r in other.post_batch(b)])
        results = a.result() + b.result()
    decided = [r.transaction_id for r in results if r.status != "duplicate"]
    assert sorted(decided) == sorted(e.transaction_id for e in HISTORY)  # one decision each
    assert ledger.journal_count() == 400
    assert_healthy(ledger)
    other.engine.dispose()


OPS = st.lists(st.tuples(st.sampled_from(["post", "dup", "reverse", "expire"]),
                         st.integers(0, len(HISTORY) - 1), st.integers(1, 25)),
               min_size=1, max_size=25)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=OPS, prefix=st.uuids())
def test_random_sequences_keep_every_invariant(ledger: Ledger, ops, prefix):
    """Random batches of simulated events (duplicates, overdrafts, two-phase card flows,
    FX, fees) interleaved with redeliveries, reversals and hold expiry."""
    tag = prefix.hex[:8]
    events = [e.model_copy(update={
        "transaction_id": f"{tag}-{e.transaction_id}", "account_id": f"{tag}-{e.account_id}",
        "original_transaction_id": (f"{tag}-{e.original_transaction_id}"
                                    if e.original_transaction_id else None)}) for e in HISTORY]
    sent: list[TransactionEvent] = []
    for op, i, size in ops:
        if op == "post":
            batch = events[i:i + size]
            ledger.post_batch(batch)
            sent += batch
        elif op == "dup" and sent:
            ledger.post_batch(sent[-size:])
        elif op == "reverse" and sent:
            target = sent[i % len(sent)].transaction_id
            ledger.reverse(target, "property test")
        elif op == "expire":
            ledger.expire_holds(T0 + timedelta(days=i % 12))
    statuses = ledger.statuses()
    assert {e.transaction_id for e in sent} <= set(statuses)
    assert all(reason for status, reason in statuses.values() if status == "rejected")
    with ledger.engine.connect() as conn:
        wallets = conn.execute(select(balances).where(
            balances.c.ledger_account.like("customer:%"))).all()
    assert all(available(w.ledger_account, w.balance) >= 0 for w in wallets)
    # What sits in each holds account is exactly the sum of its still-pending holds.
    with ledger.engine.connect() as conn:
        closed = set(conn.execute(select(journals.c.closes_hold).where(
            journals.c.closes_hold.is_not(None))).scalars())
        pending: dict[tuple[str, str], int] = {}
        for j in conn.execute(select(journals).where(
                journals.c.event_type == "card_authorization", journals.c.status == "posted")):
            if j.transaction_id not in closed:
                key = (f"customer:{j.account_id}:holds", j.currency)
                pending[key] = pending.get(key, 0) + j.amount_minor
        held = {(b.ledger_account, b.currency): available(b.ledger_account, b.balance)
                for b in conn.execute(select(balances).where(
                    balances.c.ledger_account.like("%:holds")))}
    assert {k: v for k, v in held.items() if v} == pending
    assert_healthy(ledger)


def test_naive_datetimes_never_reach_the_database(ledger: Ledger):
    from core.db import UTCDateTime

    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1), None)  # noqa: DTZ001
    with pytest.raises(ValueError, match="naive"):
        ledger.post_batch([ev("top_up", 100)], now=datetime(2026, 1, 1))  # noqa: DTZ001
    assert ledger.journal_count() == 0


def test_the_ledger_runs_from_its_source():
    """The ledger is plain Python. It was once compiled in place (``ledger/*.so``); such a
    build left in a checkout is imported ahead of the ``.py`` files and would run old code."""
    import ledger

    package = Path(ledger.__file__).parent
    builds = sorted(p.name for pattern in ("*.so", "*.pyd") for p in package.glob(pattern))
    assert builds == [], f"delete the old compiled ledger: rm {package}/*.so {package}/*.c"


def test_legs_helper_raises_for_a_rejected_plan():
    with pytest.raises(ValueError, match="unknown"):
        legs(ev("card_void", 1, original_transaction_id="nope"))


def test_verify_reads_one_snapshot_while_a_worker_posts(ledger: Ledger, ledger_url: str):
    writer = Ledger.from_url(ledger_url)
    batches = [HISTORY[i:i + 20] for i in range(0, 400, 20)]
    with ThreadPoolExecutor(1) as pool:
        posting = pool.submit(lambda: [writer.post_batch(b) for b in batches])
        reports = []
        while not posting.done():
            reports.append(verify(ledger))
        posting.result()
    assert reports, "verify never ran while the writer posted"
    assert all(r.ok for r in reports), next(r.render() for r in reports if not r.ok)
    writer.engine.dispose()
