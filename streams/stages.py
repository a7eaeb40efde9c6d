"""The feature topology's three stages, free of Faust (the worker wires them to topics).

What a record computes is :func:`features.online.run_stage` (the same function
:class:`features.online.OnlineFeatures` runs in one process); this module is the message path
around it: parsing and dead letters, the re-keying fan-out, partitions, and the join.

1. **account** — consumes ``transactions`` (key = account): parses (bad records dead-letter),
   computes the account-partitioned features, and fans out one *stage record* per other entity
   the transaction touches (merchant, device, network node of payer and payee) to topic
   ``features.stages``, partitioned by that entity — the re-key; labels go to their merchant.
2. **entity** — consumes ``features.stages``: each record updates its entity's state and yields
   that entity's feature values (a *part*) to ``features.parts``, partitioned by the payer's
   account.
3. **join** — consumes ``features.parts``: collects a transaction's parts; when all have
   arrived the complete vector goes to the effects (ledger, score, lake, alerts).

Records are sent in batches, one message per destination partition and up to
:data:`RECORDS_PER_MESSAGE` records, so per-message overhead is paid per batch, not per event.
Every stage is idempotent per transaction: the worker sends a batch's outputs before it writes
the states that mark its records applied, so a redelivered record is either recomputed from the
same state (same values) or skipped because its outputs were delivered; the join keeps "done"
markers, written only after the effects; the effects deduplicate in the database.
"""

from __future__ import annotations

import json
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.contract import LABEL_EVENT_TYPE, LabelEvent, TransactionEvent
from features.definitions import to_micros
from features.online import StateLookup, assemble, run_stage, stage_records, state_key
from streams.pipeline import DeadLetter, RawRecord, dead_letter

RECORDS_PER_MESSAGE = 100


def partition_for(key: str, partitions: int) -> int:
    """Stable partition of an entity key (the same in every process and run).

    >>> partition_for("account:a-1", 4) == partition_for("account:a-1", 4)
    True
    """
    return zlib.crc32(key.encode()) % partitions


def wire_event(ev: TransactionEvent) -> dict[str, Any]:
    """The fields the entity stages need, times as integer microseconds."""
    return {
        "transaction_id": ev.transaction_id, "event_type": ev.event_type.value,
        "occurred_at": to_micros(ev.occurred_at.timestamp()), "amount_minor": ev.amount_minor,
        "currency": ev.currency, "account_id": ev.account_id,
        "counterparty_account_id": ev.counterparty_account_id, "merchant_id": ev.merchant_id,
        "card_token": ev.card_token, "device_id": ev.device_id, "country": ev.country,
    }


def encode(records: list[Any]) -> bytes:
    return json.dumps(records, separators=(",", ":")).encode()  # NaN survives as NaN


def decode(value: bytes) -> list[Any]:
    return json.loads(value)


def batch_messages(by_partition: dict[int, list[Any]]) -> list[tuple[int, bytes]]:
    out = []
    for partition, records in sorted(by_partition.items()):
        for start in range(0, len(records), RECORDS_PER_MESSAGE):
            out.append((partition, encode(records[start:start + RECORDS_PER_MESSAGE])))
    return out


@dataclass
class StageOutput:
    stage_records: dict[int, list[Any]] = field(default_factory=lambda: defaultdict(list))
    parts: dict[int, list[Any]] = field(default_factory=lambda: defaultdict(list))
    dead_letters: list[DeadLetter] = field(default_factory=list)
    labels: int = 0
    events: int = 0
    duplicates: int = 0  # the same transaction twice in one batch: the second is dropped
    redelivered: int = 0  # already applied (and its outputs sent) before


def parse(record: RawRecord) -> TransactionEvent | LabelEvent:
    if b'"fraud_label"' in record.value and json.loads(record.value).get(
            "event_type") == LABEL_EVENT_TYPE:
        return LabelEvent.model_validate_json(record.value)
    return TransactionEvent.model_validate_json(record.value)


def account_stage(records: Iterable[RawRecord], states: StateLookup, partitions: int,
                  processed_at: float = 0.0) -> StageOutput:
    """Stage 1 over one micro-batch."""
    out = StageOutput()
    seen: set[str] = set()
    for record in records:
        try:
            item = parse(record)
        except Exception as exc:  # any bad input is a dead letter, never a dead worker
            out.dead_letters.append(dead_letter(record, exc))
            continue
        if isinstance(item, LabelEvent):
            out.labels += 1
            if item.merchant_id:
                key = state_key("label", item.merchant_id)
                label = item.model_dump(mode="json")
                label["transaction_occurred_at"] = to_micros(
                    item.transaction_occurred_at.timestamp())
                label["occurred_at"] = to_micros(item.occurred_at.timestamp())
                out.stage_records[partition_for(key, partitions)].append(
                    ["label", item.merchant_id, label])
            continue
        if item.transaction_id in seen:
            out.duplicates += 1
            continue
        seen.add(item.transaction_id)
        out.events += 1
        ev = wire_event(item)
        targets = stage_records(ev)
        values = run_stage(states, "account", item.account_id, ev, processed_at)
        if values is None:  # applied and delivered before: a redelivery
            out.redelivered += 1
            continue
        join_partition = partition_for(item.account_id, partitions)
        # The account part carries the event itself, how many parts make it complete, and
        # where it was read (the order the features applied it: the lake keeps it).
        out.parts[join_partition].append(
            [item.transaction_id, "account", values, len(targets), record.value.decode(),
             record.partition, record.offset])
        for stage, entity in targets[1:]:
            out.stage_records[partition_for(state_key(stage, entity), partitions)].append(
                [stage, entity, ev])
    return out


def entity_stage(records: Iterable[list[Any]], states: StateLookup, partitions: int,
                 processed_at: float = 0.0) -> dict[int, list[Any]]:
    """Stage 2: stage records (already routed to this partition) -> parts by join partition."""
    parts: dict[int, list[Any]] = defaultdict(list)
    for stage, entity, payload in records:
        values = run_stage(states, stage, entity, payload, processed_at)
        if values is None:  # a label, or a redelivery (its part was sent when it was applied)
            continue
        parts[partition_for(payload["account_id"], partitions)].append(
            [payload["transaction_id"], stage, values])
    return parts


@dataclass(frozen=True)
class Completed:
    transaction_id: str
    raw_event: bytes
    vector: dict[str, float]
    source_partition: int = -1  # where the account stage read it
    source_offset: int = -1


def join_stage(parts: Iterable[list[Any]], pending: StateLookup,
               now: float) -> list[Completed]:
    """Stage 3: fold parts into each transaction's pending entry; return the complete ones.

    ``pending(transaction_id)`` is that transaction's entry (a dict, empty when new). A complete
    entry becomes a ``done`` marker, so parts redelivered after completion are ignored."""
    completed: list[Completed] = []
    for part in parts:
        tid, stage, values = part[0], part[1], part[2]
        entry = pending(tid)
        if entry.get("done"):
            continue
        entry.setdefault("parts", {})[stage] = values
        entry.setdefault("since", now)
        if stage == "account":
            entry["expected"], entry["event"] = part[3], part[4]
            entry["source"] = part[5:7]
        if "expected" in entry and len(entry["parts"]) == entry["expected"]:
            completed.append(Completed(tid, entry["event"].encode(), assemble(entry["parts"]),
                                       *entry.get("source", ())))
            entry.clear()
            entry.update({"done": now})
    return completed

