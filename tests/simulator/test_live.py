"""Simulator.generate: exactly n events per window, window after window, ledger-consistent."""

from collections import Counter
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


def test_a_live_run_sized_for_its_rate_acts_like_the_history():
    """Each account makes about as many transactions a day live as in the history a model
    trains on — not the rate crowded onto a fixed few hundred accounts."""
    from simulator import merchants_for
    from simulator.live import HISTORY_FRAUD_SHARE, accounts_for_rate

    rate = 0.05  # per second: 4,320 a day
    accounts = accounts_for_rate(rate)
    start = datetime(2026, 3, 2, tzinfo=UTC)
    sim = Simulator(seed=5, n_accounts=accounts, n_merchants=merchants_for(accounts),
                    fraud_share=HISTORY_FRAUD_SHARE)
    live = []
    for hour in range(24):
        live += sim.generate(int(rate * 3600), start + timedelta(hours=hour),
                             start + timedelta(hours=hour + 1))
    history = simulate_history(days=3, seed=5, customers=accounts,
                               merchants=merchants_for(accounts)).events
    per_day_live = len(live) / accounts
    per_day_history = history.height / accounts / 3
    assert 0.75 < per_day_live / per_day_history < 1.33, (per_day_live, per_day_history)
    busiest_live = max(Counter(t.event.account_id for t in live).values())
    busiest_history = history.group_by("account_id").len()["len"].max() / 3
    assert busiest_live < 3 * busiest_history + 10
    fraud = sum(t.is_fraud for t in live) / len(live)
    assert fraud < 4 * HISTORY_FRAUD_SHARE


def test_a_new_run_keeps_the_world_and_never_repeats_an_id():
    window = (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 2, 1, tzinfo=UTC))
    first = Simulator(seed=5, n_accounts=300, n_merchants=40, run_tag="a").generate(300, *window)
    again = Simulator(seed=5, n_accounts=300, n_merchants=40, run_tag="b").generate(300, *window)
    assert {t.event.account_id for t in first} & {t.event.account_id for t in again}
    assert not {t.event.transaction_id for t in first} & {t.event.transaction_id for t in again}
    assert all(t.event.transaction_id.startswith("tx-5-a.") for t in first)
