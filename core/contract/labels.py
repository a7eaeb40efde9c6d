"""Fraud labels: an analyst decision or a chargeback about one earlier transaction.

Labels travel on the ``transactions`` topic, keyed by the labelled transaction's account, so
they are ordered with that account's transactions; ``event_type`` tells them apart. A label
names its transaction's merchant, device and (P2P transfers) payee, as the transaction did: the
delayed-label features of each count it. They arrive
late (days to weeks): ``occurred_at`` is when the label became known, and features may only use
labels known at the time of the event they describe.

>>> lab = LabelEvent.model_validate({"event_type": "fraud_label", "label_id": "l1",
...     "labelled_transaction_id": "tx-1", "account_id": "acc-1", "merchant_id": "m-1",
...     "transaction_occurred_at": "2026-11-01T10:00:00Z",
...     "occurred_at": "2026-11-15T09:00:00Z", "is_fraud": True, "source": "chargeback"})
>>> lab.is_fraud, lab.occurred_at.isoformat()
(True, '2026-11-15T09:00:00+00:00')
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from core.contract.events import EventType, Identifier, TransactionEvent, UtcDatetime

LABEL_EVENT_TYPE = "fraud_label"


class LabelEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", title="LabelEvent")

    schema_version: Literal[1] = 1
    event_type: Literal["fraud_label"] = LABEL_EVENT_TYPE
    label_id: Identifier = Field(description="Idempotency key of the label itself")
    labelled_transaction_id: Identifier
    account_id: Identifier = Field(description="Account of the labelled transaction (the key)")
    merchant_id: Identifier | None = None
    device_id: Identifier | None = Field(
        None, description="Device of the labelled transaction (its fraud rate counts the label)")
    counterparty_account_id: Identifier | None = Field(
        None, description="P2P transfers: the payee (its counterparty fraud rate counts the "
        "label); None for other transactions")
    transaction_occurred_at: UtcDatetime
    occurred_at: UtcDatetime = Field(description="When the label became known")
    is_fraud: StrictBool
    source: Literal["analyst", "chargeback", "simulator"] = "analyst"


def label_for(ev: TransactionEvent, *, label_id: str, occurred_at: datetime, is_fraud: bool,
              source: Literal["analyst", "chargeback", "simulator"] = "analyst") -> LabelEvent:
    """A label about ``ev``, naming what the transaction named: its account, merchant, device
    and — for a P2P transfer — its payee."""
    payee = ev.counterparty_account_id if ev.event_type == EventType.P2P_TRANSFER else None
    return LabelEvent(label_id=label_id, labelled_transaction_id=ev.transaction_id,
                      account_id=ev.account_id, merchant_id=ev.merchant_id,
                      device_id=ev.device_id, counterparty_account_id=payee,
                      transaction_occurred_at=ev.occurred_at, occurred_at=occurred_at,
                      is_fraud=is_fraud, source=source)
