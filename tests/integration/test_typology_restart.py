"""A real worker on the embedded broker: a structuring pattern begun before a worker is killed
is completed after its restart — the detectors' state comes back from the lake."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer

from cases import CaseStore
from core.contract import TransactionEvent
from core.lake import connect
from core.settings import Settings
from streams.topics import ensure_topics

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def deposit(i: int, at: datetime) -> TransactionEvent:
    return TransactionEvent(transaction_id=f"dep-{i}", event_type="top_up", occurred_at=at,
                            amount_minor=940_000 + 10_000 * i, currency="EUR",
                            account_id="smurf-1", country="DE", channel="branch")


def lake_rows(settings: Settings) -> int:
    if not (settings.lake_dir / "transactions").exists():
        return 0
    return int(connect(settings.lake_dir).sql("select count(*) from transactions")
               .fetchall()[0][0])


def test_a_restarted_worker_completes_a_pattern_begun_before(stack_settings, spawn, wait_until):
    s = stack_settings
    ensure_topics(s)
    producer = KafkaProducer(bootstrap_servers=s.broker, acks="all", enable_idempotence=False)

    def send(event: TransactionEvent) -> None:
        producer.send(s.topic_transactions, event.model_dump_json().encode(),
                      key=event.account_id.encode())
        producer.flush()

    t0 = datetime.now(UTC) - timedelta(days=2)
    for i in range(2):
        send(deposit(i, t0 + timedelta(hours=10 * i)))
    first = spawn("worker-1", ["worker"], s)
    wait_until(lambda: lake_rows(s) >= 2, 120, "the first worker's lake rows")
    # Killed as soon as the lake has them: the redelivery of an uncommitted batch is part of
    # what the restarted worker must absorb.
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    store = CaseStore(s.database_url)
    assert store.alerts(source="typology:structuring") == []  # two deposits: not yet

    send(deposit(2, t0 + timedelta(hours=30)))
    spawn("worker-2", ["worker"], s)
    (alert,) = wait_until(lambda: store.alerts(source="typology:structuring"), 120,
                          "the structuring alert after the restart")
    assert alert["entity_id"] == "smurf-1" and alert["typology"] == "structuring"
    (hit,) = [h for h in store.hits_of(["dep-2"]) if h["source"] == "typology:structuring"]
    assert json.loads(hit["evidence"])["transactions"] == ["dep-0", "dep-1", "dep-2"]
    producer.close()
