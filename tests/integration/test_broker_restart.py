"""The broker loses every topic (memory-only): the feature state lives in the database, so a
restarted worker goes on exactly as if nothing happened."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from core.lake import connect
from flowlet.chaos.checks import feature_mismatches
from simulator import Simulator
from streams.topics import ensure_topics

pytestmark = [pytest.mark.integration, pytest.mark.slow]

END = datetime(2026, 9, 1, tzinfo=UTC)


def test_features_continue_from_the_lake_after_the_broker_lost_everything(
        stack_settings, broker, spawn, wait_until, publish, lake_count):
    s = stack_settings.with_(partitions=1)
    ensure_topics(s)
    events = [t.event for t in Simulator(seed=17, n_accounts=150, n_merchants=25).generate(
        6_000, END - timedelta(days=20), END)]
    events.sort(key=lambda e: e.occurred_at)
    before, after = events[:3_000], events[3_000:]

    publish(s, before)
    first = spawn("worker-1", ["worker"], s)
    wait_until(lambda: lake_count(s) >= len(before), 300, "the first half in the lake")
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    broker.stop()
    broker.start()  # same port, nothing in it: topics and group offsets are gone
    ensure_topics(s)

    second = spawn("worker-2", ["worker"], s)
    publish(s, after)
    wait_until(lambda: lake_count(s) >= len(events), 300, "every event in the lake")
    assert second.stop() == 0, second.tail()

    assert feature_mismatches(s) == 0  # the offline builder over the lake, in stream order
    online = pl.from_arrow(connect(s.lake_dir).sql(
        "select transaction_id, f_acct_count_24h, f_acct_count_7d from transactions").arrow())
    assert online.height == len(events)
    # Teeth: the second half's features depend on the first half's history.
    late = online.filter(pl.col("transaction_id").is_in([e.transaction_id for e in after]))
    assert (late["f_acct_count_7d"] > late["f_acct_count_24h"]).any()
