"""A micro-batch of topic ``transactions`` through parsing and the stateful features.

What a transaction computes is :func:`features.online.run_stage` for each stage record it
produces (:func:`features.online.stage_records`: account, merchant, device, the network nodes
of payer and payee), each against its entity's state; this module is the path around it:

1. :func:`parse_batch` parses each record once, in (partition, offset) order — the order the
   features apply them, which the lake records (``source_partition``, ``source_offset``) —;
   a record that does not parse is a dead letter; a second copy of a transaction in the same
   batch is dropped;
2. :func:`state_keys` names every state the batch touches, so the worker locks them at once;
3. :func:`featurize` applies labels to the states of their transaction's merchant, device and
   P2P payee (:func:`features.online.label_records`), sets customer profile events
   aside for the effects (``customers``, screening) and computes each transaction's
   vector. A transaction whose account state already marks it applied is a redelivery whose
   effects are done (the worker stores state only after the effects): it is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.contract import (
    CUSTOMER_EVENT_TYPE,
    LABEL_EVENT_TYPE,
    CustomerEvent,
    LabelEvent,
    TransactionEvent,
)
from features.definitions import to_micros
from features.online import (
    StateLookup,
    assemble,
    label_records,
    run_label,
    run_stage,
    stage_records,
    state_key,
)
from streams.pipeline import DeadLetter, PreparedBatch, RawRecord, dead_letter

Item = TransactionEvent | LabelEvent | CustomerEvent


def parse(record: RawRecord) -> Item:
    """The record's event, by its ``event_type`` (labels and customer profiles share the
    topic with the transactions; the byte test keeps the common case one parse)."""
    if b'"fraud_label"' in record.value or b'"customer"' in record.value:
        kind = json.loads(record.value).get("event_type")
        if kind == LABEL_EVENT_TYPE:
            return LabelEvent.model_validate_json(record.value)
        if kind == CUSTOMER_EVENT_TYPE:
            return CustomerEvent.model_validate_json(record.value)
    return TransactionEvent.model_validate_json(record.value)


@dataclass
class Parsed:
    items: list[tuple[RawRecord, Item]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    duplicates: int = 0  # the same transaction twice in one batch: the second is dropped


def parse_batch(records: Iterable[RawRecord]) -> Parsed:
    out = Parsed()
    seen: set[str] = set()
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        try:
            item = parse(record)
        except Exception as exc:  # any bad input is a dead letter, never a dead worker
            out.dead_letters.append(dead_letter(record, exc))
            continue
        if isinstance(item, TransactionEvent):
            if item.transaction_id in seen:
                out.duplicates += 1
                continue
            seen.add(item.transaction_id)
        out.items.append((record, item))
    return out


def wire_event(ev: TransactionEvent) -> dict[str, Any]:
    """The fields the stages read, times as integer microseconds."""
    return {
        "transaction_id": ev.transaction_id, "event_type": ev.event_type.value,
        "occurred_at": to_micros(ev.occurred_at.timestamp()), "amount_minor": ev.amount_minor,
        "currency": ev.currency, "account_id": ev.account_id,
        "counterparty_account_id": ev.counterparty_account_id, "merchant_id": ev.merchant_id,
        "card_token": ev.card_token, "device_id": ev.device_id, "country": ev.country,
    }


def wire_label(label: LabelEvent) -> dict[str, Any]:
    out = label.model_dump(mode="json")
    out["transaction_occurred_at"] = to_micros(label.transaction_occurred_at.timestamp())
    out["occurred_at"] = to_micros(label.occurred_at.timestamp())
    return out


def state_keys(items: Sequence[tuple[RawRecord, Item]]) -> list[str]:
    """Every state key the batch's items read or write (customer profiles touch none)."""
    keys: set[str] = set()
    for _, item in items:
        if isinstance(item, CustomerEvent):
            continue
        if isinstance(item, LabelEvent):
            keys.update(state_key(stage, entity) for stage, entity in label_records(
                {"merchant_id": item.merchant_id, "device_id": item.device_id,
                 "counterparty_account_id": item.counterparty_account_id}))
            continue
        keys.update(state_key(stage, entity) for stage, entity in stage_records(
            {"account_id": item.account_id, "merchant_id": item.merchant_id,
             "device_id": item.device_id, "event_type": item.event_type.value,
             "counterparty_account_id": item.counterparty_account_id}))
    return sorted(keys)


@dataclass
class Featurized:
    batch: PreparedBatch
    labels: int = 0
    redelivered: int = 0  # applied (and their effects done) before


def featurize(parsed: Parsed, states: StateLookup, processed_at: float) -> Featurized:
    """Labels into the states they reach; each new transaction's vector, for the effects."""
    out = Featurized(PreparedBatch(dead_letters=list(parsed.dead_letters),
                                   in_batch_duplicates=parsed.duplicates))
    for record, item in parsed.items:
        if isinstance(item, CustomerEvent):  # stored by the effects (customers.CustomerBook)
            out.batch.customers.append(item)
            out.batch.customer_records.append(record)
            continue
        if isinstance(item, LabelEvent):
            out.labels += 1
            out.batch.labels.append(item)
            run_label(states, wire_label(item))
            continue
        ev = wire_event(item)
        targets = stage_records(ev)
        account = run_stage(states, "account", item.account_id, ev, processed_at)
        if account is None:  # marked applied: stored only after its effects were done
            out.redelivered += 1
            continue
        parts = {"account": account}
        for stage, entity in targets[1:]:
            values = run_stage(states, stage, entity, ev, processed_at)
            if values is not None:
                parts[stage] = values
        out.batch.events.append(item)
        out.batch.vectors.append(assemble(parts))
        out.batch.records.append(record)
    return out
