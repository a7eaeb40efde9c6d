"""Online features (a worker on the real broker) equal offline ones (``build_features``).

20,000+ simulated transactions over 45 days, with late fraud labels interleaved at the time they
became known, are replayed through topic ``transactions``; every feature of every transaction
in the lake must equal the offline builder's value for it (floats within 1e-9). The second test
kills the worker with SIGKILL mid-replay and restarts it: the state stored in the database
must give the same vectors.

Those two replay through one partition, so the offline builder can take the history in event
time. With several partitions a merchant's records come from many accounts in the order the
workers interleave partitions; the third test runs four partitions and two workers and holds
the lake's features equal to the offline builder replaying the lake in the order the stream
applied it (processing time, then partition and offset).
"""

from __future__ import annotations

import math
import signal
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from core.lake import connect
from core.processes import free_port
from features import FEATURE_NAMES, FEATURES, build_features, events_frame
from flowlet.chaos.checks import feature_mismatches
from simulator import Simulator, label_events
from streams.topics import ensure_topics

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N_EVENTS = 20_000
END = datetime(2026, 10, 1, tzinfo=UTC)
START = END - timedelta(days=45)


def _history():
    txs = Simulator(seed=41, n_accounts=400, n_merchants=60, fraud_share=0.05).generate(
        N_EVENTS, START, END)
    labels = [lab for lab in label_events(txs, seed=41) if lab.occurred_at < END]
    events = [t.event for t in txs]
    # Replay order: everything by the time it happened (labels: when they became known),
    # labels first at equal times — the order the offline builder's "known at t" assumes.
    merged = sorted([(e.occurred_at, 1, i, e) for i, e in enumerate(events)]
                    + [(lab.occurred_at, 0, i, lab) for i, lab in enumerate(labels)],
                    key=lambda x: x[:3])
    return events, labels, [m[3] for m in merged]


def _assert_parity(settings, events, labels) -> None:
    online = pl.from_arrow(connect(settings.lake_dir).sql(
        "select transaction_id, " + ", ".join(f'"f_{f.name}"' for f in FEATURES)
        + " from transactions").arrow())
    labels_frame = pl.DataFrame([lab.model_dump() for lab in labels])
    offline = build_features(events_frame(events), labels_frame)
    assert online.height == offline.height == len(events)
    joined = offline.select("transaction_id", *FEATURE_NAMES).join(
        online, on="transaction_id", how="inner")
    assert joined.height == len(events)
    mismatches: dict[str, int] = {}
    first: dict[str, tuple] = {}
    for f in FEATURES:
        for tid, want, got in zip(joined["transaction_id"], joined[f.name],
                                  joined[f"f_{f.name}"], strict=True):
            same = (math.isnan(want) and math.isnan(got)) or abs(want - got) <= 1e-9 * max(
                1.0, abs(want))
            if not same:
                mismatches[f.name] = mismatches.get(f.name, 0) + 1
                first.setdefault(f.name, (tid, want, got))
    assert not mismatches, f"online != offline: {mismatches}; first of each: {first}"
    # The comparison has teeth: the features vary and labels reached the risk of merchants,
    # devices and payees (their states live under other stage keys than the label's account).
    assert joined["acct_count_24h"].max() > 5
    for f in FEATURES:
        if f.aggregation == "fraud_rate" and f.window == 30 * 24 * 3600:
            assert joined[f.name].fill_nan(0).max() > 0, f.name
    assert joined["cp_distinct_senders_24h"].fill_nan(0).max() >= 2


def test_online_features_equal_offline_for_20k_replayed_events(stack_settings, spawn,
                                                                 wait_until, publish, lake_count):
    s = stack_settings.with_(partitions=1)
    ensure_topics(s)
    events, labels, replay = _history()
    assert len(events) >= 20_000 and len(labels) > 100
    publish(s, replay)
    worker = spawn("worker", ["worker"], s)
    wait_until(lambda: lake_count(s) >= len(events), 420, f"{len(events)} lake rows",
               interval=2)
    assert worker.stop() == 0, worker.tail()
    _assert_parity(s, events, labels)


def test_features_survive_a_killed_worker(stack_settings, spawn, wait_until, publish, lake_count):
    s = stack_settings.with_(partitions=1)
    ensure_topics(s)
    events, labels, replay = _history()
    publish(s, replay)
    # Small batches for the first worker: the join completes whatever parts it holds in one
    # effects batch, and behind a slow one that can be all 20,000 at once (no "mid-replay").
    first = spawn("worker-1", ["worker"], s.with_(batch_size=20))
    wait_until(lambda: lake_count(s) >= 4000, 300, "the first worker to fill the lake")
    first.proc.send_signal(signal.SIGKILL)  # mid-replay: no shutdown, no offset commit
    first.proc.wait(10)
    assert lake_count(s) < len(events), "the worker finished before it could be killed"
    second = spawn("worker-2", ["worker"], s)
    wait_until(lambda: lake_count(s) >= len(events), 420, f"{len(events)} lake rows",
               interval=2)
    assert second.stop() == 0, second.tail()
    _assert_parity(s, events, labels)


def test_features_with_four_partitions_and_two_workers(stack_settings, spawn, wait_until,
                                                       publish, lake_count):
    s = stack_settings.with_(partitions=4)
    ensure_topics(s)
    events, _, _ = _history()
    events = events[:8_000]
    publish(s, events)
    workers = [spawn(f"worker-{i}", ["worker"], s.with_(worker_web_port=free_port()))
               for i in (1, 2)]
    wait_until(lambda: lake_count(s) >= len(events), 420, f"{len(events)} lake rows", interval=2)
    for w in workers:
        assert w.stop() == 0, w.tail()
    partitions = connect(s.lake_dir).sql(
        "select count(distinct source_partition) from transactions").fetchall()[0][0]
    assert partitions == 4
    assert feature_mismatches(s) == 0
