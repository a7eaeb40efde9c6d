"""The broker loses every topic (memory-only) while the lake survives: the restarted worker
rebuilds its feature state from the lake, and features go on exactly as if nothing happened."""

from __future__ import annotations

import math
import signal
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from kafka import KafkaProducer

from core.lake import connect
from features import FEATURES, build_features, events_frame
from simulator import Simulator
from streams.recovery import changelogs_empty
from streams.topics import ensure_topics

pytestmark = [pytest.mark.integration, pytest.mark.slow]

END = datetime(2026, 9, 1, tzinfo=UTC)


def _publish(settings, events) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.broker, acks="all", linger_ms=5,
                             enable_idempotence=False)
    for e in events:
        producer.send(settings.topic_transactions, e.model_dump_json().encode(),
                      key=e.account_id.encode())
    producer.flush()
    producer.close()


def _lake_count(settings) -> int:
    return connect(settings.lake_dir).sql("select count(*) from transactions").fetchall()[0][0]


def test_features_continue_from_the_lake_after_the_broker_lost_everything(
        stack_settings, broker, spawn, wait_until):
    s = stack_settings.with_(partitions=1)
    ensure_topics(s)
    events = [t.event for t in Simulator(seed=17, n_accounts=150, n_merchants=25).generate(
        6_000, END - timedelta(days=20), END)]
    events.sort(key=lambda e: e.occurred_at)
    before, after = events[:3_000], events[3_000:]

    _publish(s, before)
    first = spawn("worker-1", ["worker"], s)
    wait_until(lambda: _lake_count(s) >= len(before), 300, "the first half in the lake")
    assert not changelogs_empty(s)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    broker.stop()
    broker.start()  # same port, nothing in it: topics, changelogs and group offsets are gone
    ensure_topics(s)
    assert changelogs_empty(s)

    second = spawn("worker-2", ["worker"], s)
    wait_until(lambda: "rebuilt" in second.log.read_text(), 120,
               "the worker to rebuild its feature state from the lake")
    _publish(s, after)
    wait_until(lambda: _lake_count(s) >= len(events), 300, "every event in the lake")
    assert second.stop() == 0, second.tail()

    online = pl.from_arrow(connect(s.lake_dir).sql(
        "select transaction_id, " + ", ".join(f'"f_{f.name}"' for f in FEATURES)
        + " from transactions").arrow())
    offline = build_features(events_frame(events), None)
    joined = offline.join(online, on="transaction_id", how="inner")
    assert joined.height == len(events)
    mismatches: dict[str, tuple] = {}
    for f in FEATURES:
        for tid, want, got in zip(joined["transaction_id"], joined[f.name],
                                  joined[f"f_{f.name}"], strict=True):
            same = (math.isnan(want) and math.isnan(got)) or abs(want - got) <= 1e-9 * max(
                1.0, abs(want))
            if not same:
                mismatches.setdefault(f.name, (tid, want, got))
    assert not mismatches, f"online != offline after the broker restart: {mismatches}"
    # Teeth: the second half's features depend on the first half's history.
    late = joined.filter(pl.col("transaction_id").is_in([e.transaction_id for e in after]))
    assert (late["acct_count_7d"] > late["acct_count_24h"]).any()
