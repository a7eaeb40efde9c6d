"""Events as a typed polars frame: the one tabular shape the features, the simulator and training
start from."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl

from core.contract import TransactionEvent

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "transaction_id": pl.String(),
    "event_type": pl.String(),
    "occurred_at": pl.Datetime("us", "UTC"),
    "amount_minor": pl.Int64(),
    "currency": pl.String(),
    "account_id": pl.String(),
    "counterparty_account_id": pl.String(),
    "merchant_id": pl.String(),
    "mcc": pl.String(),
    "card_token": pl.String(),
    "device_id": pl.String(),
    "ip_address": pl.String(),
    "country": pl.String(),
    "channel": pl.String(),
    "target_currency": pl.String(),
    "target_amount_minor": pl.Int64(),
    "fee_minor": pl.Int64(),
    "original_transaction_id": pl.String(),
}


def event_row(ev: TransactionEvent) -> dict[str, object]:
    """One event as a plain row (enums as their values, IPs as text)."""
    row: dict[str, object] = {name: getattr(ev, name) for name in EVENT_SCHEMA}
    row["event_type"] = ev.event_type.value
    row["channel"] = ev.channel.value
    row["ip_address"] = str(ev.ip_address) if ev.ip_address is not None else None
    return row


def events_frame(events: Iterable[TransactionEvent | Mapping[str, object]]) -> pl.DataFrame:
    rows = [event_row(e) if isinstance(e, TransactionEvent) else dict(e) for e in events]
    return pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row") if rows else pl.DataFrame(
        schema=EVENT_SCHEMA
    )

