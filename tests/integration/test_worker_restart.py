"""Kill a worker mid-stream (SIGKILL), restart it: nothing lost, nothing doubled."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer

from core.lake import connect
from ledger import Ledger, verify
from simulator import Simulator
from streams.topics import ensure_topics

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_killed_worker_restarts_and_every_transaction_lands_once(stack_settings, spawn,
                                                                   wait_until, wait_caught_up):
    s = stack_settings.with_(batch_size=200)
    ensure_topics(s)
    now = datetime.now(UTC)
    events = [t.event for t in Simulator(seed=31, n_accounts=200, n_merchants=30).generate(
        6000, now - timedelta(hours=6), now)]
    producer = KafkaProducer(bootstrap_servers=s.broker, acks="all", linger_ms=5,
                             enable_idempotence=False)
    for e in events:
        producer.send(s.topic_transactions, e.model_dump_json(exclude_none=True).encode(),
                      key=e.account_id.encode())
    producer.flush()

    ledger = Ledger.from_url(s.database_url)
    # Small batches for the first worker: the join stage completes whatever parts it has in
    # one effects batch, and with 200-event batches that can be all 6,000 at once.
    first = spawn("worker-1", ["worker"], s.with_(batch_size=20))
    wait_until(lambda: ledger.journal_count() >= 1000, 120, "the first worker to post")
    first.proc.send_signal(signal.SIGKILL)  # mid-stream: no shutdown, no offset commit
    first.proc.wait(10)
    at_kill = ledger.journal_count()
    assert at_kill < len(events), "the worker finished before it could be killed"

    # Redeliver a slice too, as an upstream retry storm would.
    for e in events[:500]:
        producer.send(s.topic_transactions, json.dumps(
            e.model_dump(mode="json", exclude_none=True)).encode(), key=e.account_id.encode())
    producer.flush()
    producer.close()

    started = time.monotonic()
    second = spawn("worker-2", ["worker"], s)
    wait_until(lambda: ledger.journal_count() >= len(events), 180,
               f"all {len(events)} journals after the restart", interval=1)
    wait_until(lambda: connect(s.lake_dir).sql("select count(*) from transactions")
               .fetchall()[0][0] >= len(events), 60, "all lake rows")
    recovery_seconds = time.monotonic() - started
    wait_caught_up(s)  # the redelivered slice too: a double would have landed by now

    ids = {e.transaction_id for e in events}
    assert set(ledger.statuses()) == ids
    assert ledger.journal_count() == len(events)
    report = verify(ledger, accepted_ids=ids)
    assert report.ok, report.render()
    n, distinct = connect(s.lake_dir).sql(
        "select count(*), count(distinct transaction_id) from transactions").fetchall()[0]
    assert (n, distinct) == (len(events), len(events))
    assert second.stop() == 0, second.tail()
    assert "never delivered" not in second.log.read_text(), second.tail()  # streams.offsets
    print(f"\nRESTART: killed at {at_kill}/{len(events)} journals; the restarted worker "
          f"finished in {recovery_seconds:.1f}s")
