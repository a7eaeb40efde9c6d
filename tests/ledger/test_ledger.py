from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from flowlet.contract import EventType, TransactionEvent
from ledger import Ledger, legs, verify
from ledger.schema import entries
from models.simulator import Simulator

START = datetime(2026, 1, 1, tzinfo=UTC)
HISTORY = [t.event for t in Simulator(seed=9, n_accounts=30, n_merchants=8).generate(
    400, START, START + timedelta(days=2))]


def test_every_event_type_has_a_balanced_recipe():
    seen = set()
    for ev in HISTORY:
        seen.add(ev.event_type)
        per_ccy: dict[str, int] = {}
        for leg in legs(ev):
            assert isinstance(leg.amount_minor, int) and leg.amount_minor != 0
            per_ccy[leg.currency] = per_ccy.get(leg.currency, 0) + leg.amount_minor
        assert set(per_ccy.values()) == {0}, ev
    assert {EventType.TOP_UP, EventType.P2P_TRANSFER, EventType.FX_CONVERSION} <= seen


def test_fx_conversion_moves_both_currencies_through_the_fx_position():
    ev = TransactionEvent.model_validate({
        "transaction_id": "fx1", "event_type": "fx_conversion", "occurred_at": START,
        "amount_minor": 10_000, "currency": "EUR", "target_currency": "USD",
        "target_amount_minor": 10_800, "account_id": "a", "country": "DE", "channel": "web"})
    assert legs(ev) == [
        ("customer:a:wallet", "EUR", 10_000), ("fx:position", "EUR", -10_000),
        ("fx:position", "USD", 10_800), ("customer:a:wallet", "USD", -10_800)]


def test_posting_is_idempotent_and_balanced(ledger: Ledger):
    first = ledger.post_batch(HISTORY[:200])
    assert [r.status for r in first] == ["posted"] * 200
    again = ledger.post_batch(HISTORY[100:300] + HISTORY[:5])
    statuses = [r.status for r in again]
    assert statuses[:100] == ["duplicate"] * 100
    assert statuses[100:200] == ["posted"] * 100
    assert statuses[200:] == ["duplicate"] * 5
    assert ledger.journal_count() == 300
    assert set(ledger.trial_balance().values()) == {0}
    assert verify(ledger).ok


def test_duplicates_inside_one_batch_post_once(ledger: Ledger):
    results = ledger.post_batch([HISTORY[0], HISTORY[0], HISTORY[1]])
    assert [r.status for r in results] == ["posted", "duplicate", "posted"]
    with ledger.engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(entries)).scalar_one()
    assert n == len(legs(HISTORY[0])) + len(legs(HISTORY[1]))


def test_balances_are_derived_from_entries(ledger: Ledger):
    ledger.post_batch(HISTORY)
    ev = next(e for e in HISTORY if e.event_type is EventType.TOP_UP)
    expected = sum(
        leg.amount_minor for e in HISTORY for leg in legs(e)
        if leg.ledger_account == f"customer:{ev.account_id}:wallet" and leg.currency == ev.currency
    )
    assert ledger.balance(f"customer:{ev.account_id}:wallet", ev.currency) == expected


def test_racing_workers_post_each_transaction_once(ledger: Ledger, ledger_url: str):
    other = Ledger.from_url(ledger_url)
    batches = [HISTORY[i:i + 50] for i in range(0, 400, 50)]
    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(lambda: [ledger.post_batch(b) for b in batches])
        b = pool.submit(lambda: [other.post_batch(b) for b in reversed(batches)])
        results = [r for batch in a.result() + b.result() for r in batch]
    posted = [r.transaction_id for r in results if r.status == "posted"]
    assert sorted(posted) == sorted(e.transaction_id for e in HISTORY)
    assert ledger.journal_count() == 400
    assert verify(ledger).ok
    other.engine.dispose()


def test_verify_names_an_unbalanced_journal(ledger: Ledger):
    ledger.post_batch(HISTORY[:20])
    victim = HISTORY[7].transaction_id
    with ledger.engine.begin() as conn:
        conn.execute(update(entries).where(entries.c.transaction_id == victim,
                                           entries.c.leg == 0)
                     .values(amount_minor=entries.c.amount_minor + 1))
    report = verify(ledger)
    assert not report.ok
    assert any(victim in p for p in report.problems), report.problems


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, len(HISTORY) - 1), min_size=1, max_size=120),
       st.integers(1, 40))
def test_any_sequence_with_redeliveries_keeps_the_invariants(tmp_path_factory, picks,
                                                             batch_size):
    led = Ledger.from_url(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'l.db'}")
    stream = [HISTORY[i] for i in picks]
    for start in range(0, len(stream), batch_size):
        led.post_batch(stream[start:start + batch_size])
    assert led.posted_ids() == {HISTORY[i].transaction_id for i in picks}
    assert set(led.trial_balance().values()) <= {0}
    assert verify(led).ok
    led.engine.dispose()


@pytest.mark.parametrize("naive", [datetime(2026, 1, 1)])  # noqa: DTZ001
def test_naive_datetimes_never_reach_the_database(ledger: Ledger, naive):
    from ledger.schema import UTCDateTime

    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(naive, None)
