"""Simulator.generate: exactly n events per window, window after window, ledger-consistent."""

from datetime import UTC, datetime, timedelta

from ledger import Ledger
from simulator import PATTERNS, Simulator, label_events, simulate_history

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def test_exactly_n_events_in_the_window_with_typologies():
    txs = Simulator(seed=3, n_accounts=150, n_merchants=30).generate(
        4000, T0, T0 + timedelta(days=7))
    assert len(txs) == 4000
    times = [t.event.occurred_at for t in txs]
    assert times == sorted(times) and T0 <= times[0] and times[-1] < T0 + timedelta(days=7)
    patterns = {t.pattern for t in txs if t.is_fraud}
    assert patterns <= set(PATTERNS) and len(patterns) >= 5
    assert all(t.is_fraud == (t.pattern is not None) for t in txs)


def test_consecutive_windows_continue_each_other():
    sim = Simulator(seed=4, n_accounts=80, n_merchants=20)
    windows = [sim.generate(300, T0 + timedelta(hours=h), T0 + timedelta(hours=h + 1))
               for h in range(6)]
    ids = [t.event.transaction_id for w in windows for t in w]
    assert len(ids) == len(set(ids)) == 1800
    for h, window in enumerate(windows):
        assert all(T0 + timedelta(hours=h) <= t.event.occurred_at
                   < T0 + timedelta(hours=h + 1) for t in window)
    # a capture due after its authorization's window is emitted in a later window
    seen: dict[str, int] = {}
    carried = 0
    for h, window in enumerate(windows):
        for t in window:
            seen[t.event.transaction_id] = h
            original = t.event.original_transaction_id
            if original is not None:
                assert original in seen
                carried += seen[original] < h
    assert carried > 0


def test_published_events_post_to_the_ledger_without_rejections(tmp_path):
    ledger = Ledger.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")
    sim = Simulator(seed=6, n_accounts=60, n_merchants=15, fraud_share=0.1)
    events = [t.event for h in range(3) for t in sim.generate(
        400, T0 + timedelta(hours=8 * h), T0 + timedelta(hours=8 * h + 8))]
    results = ledger.post_batch(events)
    rejected = [(r.transaction_id, r.reason) for r in results if r.status == "rejected"]
    assert rejected == []


def test_a_history_posts_to_the_ledger_without_rejections(tmp_path):
    history = simulate_history(days=3, seed=9, customers=60, merchants=15, fraud_rate=0.05,
                               aml_rate=0.03)
    ledger = Ledger.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")
    results = ledger.post_batch(history.transaction_events())
    assert [r for r in results if r.status == "rejected"] == []


def test_label_events_label_every_fraud_after_the_fact():
    txs = Simulator(seed=2, n_accounts=30, n_merchants=5, fraud_share=0.3).generate(
        500, T0, T0 + timedelta(days=3))
    labels = label_events(txs, seed=2, cleared_share=0.0)
    assert sum(lab.is_fraud for lab in labels) == sum(t.is_fraud for t in txs) > 0
    assert all(lab.occurred_at > lab.transaction_occurred_at for lab in labels)
    assert label_events(txs, seed=2) == label_events(txs, seed=2)
