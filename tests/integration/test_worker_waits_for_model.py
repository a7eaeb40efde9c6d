"""A worker with no model to load waits, says so, and reads nothing until one appears."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer

from core.lake import connect
from ledger import Ledger
from simulator import Simulator
from streams.topics import ensure_topics

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_worker_waits_for_a_model_then_processes_everything(stack_settings, spawn,
                                                                 wait_until):
    from models.mlflow_env import MlflowClient
    from models.registry import resolve_alias

    s = stack_settings.with_(model_alias="not-yet")
    ensure_topics(s)
    now = datetime.now(UTC)
    events = [t.event for t in Simulator(seed=5, n_accounts=20, n_merchants=5).generate(
        200, now - timedelta(hours=1), now)]
    producer = KafkaProducer(bootstrap_servers=s.broker, acks="all", enable_idempotence=False)
    for e in events:
        producer.send(s.topic_transactions, e.model_dump_json(exclude_none=True).encode(),
                      key=e.account_id.encode())
    producer.flush()
    producer.close()

    worker = spawn("worker", ["worker"], s)
    wait_until(lambda: "waiting for a model" in worker.log.read_text(), 120,
               "the worker to say it waits for a model")
    assert worker.proc.poll() is None, worker.tail()
    # It has not joined the consumer group, so nothing can have been read.
    assert Ledger.from_url(s.database_url).journal_count() == 0
    assert not (s.lake_dir / "transactions").exists()

    client = MlflowClient(s.mlflow_tracking_uri, s.mlflow_tracking_uri)
    champion = resolve_alias(client, s.model_name, "champion")
    assert champion is not None
    client.set_registered_model_alias(s.model_name, "not-yet", champion)
    wait_until(lambda: connect(s.lake_dir).sql("select count(*) from transactions")
               .fetchall()[0][0] == len(events), 180,
               f"all {len(events)} events in the lake once the model exists", interval=1)
    assert Ledger.from_url(s.database_url).journal_count() >= len(events)
