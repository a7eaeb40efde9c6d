"""The stored feature state belongs to one life of the broker; a new life rebuilds it.

The worker's state (:mod:`streams.state`) is durable in the database, but it describes records
the broker holds: a transaction marked applied had its stage records and feature parts sent to
the internal topics. The embedded broker keeps topics in memory; when it restarts, those
records are gone, and state that says "applied" would silently drop the transactions the outbox
re-publishes. So every life of the broker gets an *epoch*: a random id written to the topic
``<app_id>.state-epoch`` and stored next to the state. A worker starting where the broker's
epoch is not the stored one (a new broker, or a first start) rebuilds the state under a database
lock, once for all workers:

1. replay the lake's transactions in processing order through the very stage functions the
   stream runs (:func:`features.online.run_stage`), each marked applied at its own processing
   time, so a copy the outbox re-publishes is recognised as a redelivery;
2. replace every stored state with the result (the join's pending parts are gone with the
   broker: dropped) and store a new epoch;
3. publish the epoch to the broker, then commit.

Labels that reached the worker straight from Kafka are not in the lake and are not replayed.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from sqlalchemy import Engine, select

from core.db import dialect_insert
from core.lake import connect
from core.settings import Settings
from features.definitions import to_micros
from features.online import expire, run_stage, stage_records
from streams.state import META_STORE, create_state_table, replace_all, stream_state
from streams.topics import ensure_topics, epoch_topic

log = logging.getLogger(__name__)

#: The worker's state stores (``streams.app.Worker``).
ACCOUNT_STORE, ENTITY_STORE, JOIN_STORE = "account-features", "entity-features", "join-pending"

_EVENT_COLUMNS = ("transaction_id", "event_type", "occurred_at", "amount_minor", "currency",
                  "account_id", "counterparty_account_id", "merchant_id", "card_token",
                  "device_id", "country")


def broker_epoch(settings: Settings, timeout_ms: int = 1000) -> str | None:
    """The last epoch written to this broker life's epoch topic (None: none yet)."""
    tp = TopicPartition(epoch_topic(settings), 0)
    consumer = KafkaConsumer(bootstrap_servers=settings.broker, enable_auto_commit=False,
                             consumer_timeout_ms=timeout_ms)
    try:
        if not consumer.partitions_for_topic(tp.topic):
            return None
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        last = None
        for record in consumer:  # a handful of records; ends after timeout_ms of silence
            last = record.value.decode()
        return last
    finally:
        consumer.close()


def _publish_epoch(settings: Settings, epoch: str) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.broker, acks="all")
    try:
        producer.send(epoch_topic(settings), value=epoch.encode(), partition=0).get(timeout=30)
    finally:
        producer.close()


def rebuild_states(settings: Settings) -> tuple[dict[str, dict[str, Any]], int]:
    """The feature states (by state key) the stream would hold after processing the lake's
    transactions, and how many transactions were replayed."""
    states: dict[str, dict[str, Any]] = {}
    if not (settings.lake_dir / "transactions").exists():
        return states, 0
    con = connect(settings.lake_dir)
    columns = ", ".join(_EVENT_COLUMNS)
    # The order the account stage read them: batch by batch, then partition and offset.
    rows = con.sql(f"SELECT {columns}, epoch(processed_at) AS processed "  # noqa: S608
                   "FROM transactions ORDER BY processed_at, source_partition, source_offset, "
                   "occurred_at, transaction_id").fetchall()

    def lookup(key: str) -> dict[str, Any]:
        return states.setdefault(key, {})

    for i, row in enumerate(rows, 1):
        ev = dict(zip(_EVENT_COLUMNS, row[:-1], strict=True))
        ev["occurred_at"] = to_micros(ev["occurred_at"].timestamp())
        for stage, entity in stage_records(ev):
            run_stage(lookup, stage, entity, ev, float(row[-1]))
        if i % 100_000 == 0:  # windows beyond every horizon, as the stream's tidy drops them
            for state in states.values():
                expire(state)
    return states, len(rows)


def align_with_broker(settings: Settings, engine: Engine) -> bool:
    """Make the stored state belong to the broker's current life; True if it was rebuilt."""
    ensure_topics(settings)
    create_state_table(engine)
    with engine.begin() as conn:
        _lock_epoch_row(engine, conn)  # one worker decides; the others wait, then agree
        stored = conn.execute(select(stream_state.c.value).where(
            stream_state.c.store == META_STORE, stream_state.c.key == "epoch")).scalar_one()
        current = broker_epoch(settings)
        if current is not None and current == stored.decode():
            return False
        started = time.perf_counter()
        states, replayed = rebuild_states(settings)
        by_store: dict[str, dict[str, dict[str, Any]]] = {ACCOUNT_STORE: {}, ENTITY_STORE: {}}
        for key, state in states.items():
            expire(state)
            by_store[ACCOUNT_STORE if key.startswith("account:") else ENTITY_STORE][key] = state
        replace_all(engine, by_store, conn)
        epoch = uuid.uuid4().hex
        conn.execute(stream_state.update().where(
            stream_state.c.store == META_STORE, stream_state.c.key == "epoch"
        ).values(value=epoch.encode()))
        _publish_epoch(settings, epoch)
    log.warning("new broker life (stored epoch %s, broker's %s): rebuilt %d feature states "
                "from %d lake transactions in %.1f s", stored.decode() or "none",
                current or "none", len(states), replayed, time.perf_counter() - started)
    return True


def _lock_epoch_row(engine: Engine, conn: Any) -> None:
    conn.execute(dialect_insert(engine.dialect.name)(stream_state).values(
        store=META_STORE, key="epoch", value=b"").on_conflict_do_nothing())
    conn.execute(select(stream_state.c.key).where(
        stream_state.c.store == META_STORE).with_for_update())
