"""Feature state after the broker lost its changelogs: rebuilt from the lake, not from zero.

The embedded broker keeps every topic in memory, the state tables' changelogs included. When a
worker starts, finds those changelogs empty and the lake holding processed transactions, it
replays the lake's transactions in processing order through the very stage functions the
stream runs (:func:`features.online.run_stage`) and seeds its state tables with the
result (:class:`streams.state.JsonStateTable`): the first lookup of a key the table does not
hold takes the rebuilt state, which is then written to the changelog like any update. Each
replayed transaction is marked applied at its own processing time, so a copy the outbox
re-publishes is recognised as a redelivery.

Labels that reached the worker straight from Kafka are not in the lake and are not replayed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from core.lake import connect
from core.settings import Settings
from features.definitions import to_micros
from features.online import expire, run_stage, stage_records

log = logging.getLogger(__name__)

#: The worker's changelog-backed feature tables (``streams.app.Worker``).
FEATURE_TABLES = ("account-feature-state", "entity-feature-state")

_EVENT_COLUMNS = ("transaction_id", "event_type", "occurred_at", "amount_minor", "currency",
                  "account_id", "counterparty_account_id", "merchant_id", "card_token",
                  "device_id", "country")


def changelog_topic(settings: Settings, table: str) -> str:
    """Faust's name for a table's changelog topic."""
    return f"{settings.app_id}-{table}-changelog"


def changelogs_empty(settings: Settings) -> bool:
    """Whether no feature table has anything in its changelog (or no changelog exists)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.broker, enable_auto_commit=False)
    try:
        for table in FEATURE_TABLES:
            topic = changelog_topic(settings, table)
            partitions = consumer.partitions_for_topic(topic) or set()
            ends = consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
            if any(end > 0 for end in ends.values()):
                return False
        return True
    finally:
        consumer.close()


def rebuild_states(settings: Settings) -> tuple[dict[str, dict[str, Any]], int]:
    """The feature states the stream would hold after processing the lake's transactions, and
    how many transactions were replayed."""
    con = connect(settings.lake_dir)
    columns = ", ".join(_EVENT_COLUMNS)
    # The order the account stage read them: batch by batch, then partition and offset.
    rows = con.sql(f"SELECT {columns}, epoch(processed_at) AS processed "  # noqa: S608
                   "FROM transactions ORDER BY processed_at, source_partition, source_offset, "
                   "occurred_at, transaction_id").fetchall()
    states: dict[str, dict[str, Any]] = {}

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


def seed_states(settings: Settings) -> dict[str, dict[str, Any]]:
    """What to seed the state tables with: the rebuilt states when the changelogs were lost
    and the lake is not empty; nothing otherwise."""
    if not (settings.lake_dir / "transactions").exists() or not changelogs_empty(settings):
        return {}
    started = time.perf_counter()
    states, replayed = rebuild_states(settings)
    if replayed:
        log.warning("feature changelogs are empty but the lake holds %d transactions: rebuilt "
                    "%d feature states from the lake in %.1f s", replayed, len(states),
                    time.perf_counter() - started)
    return states
