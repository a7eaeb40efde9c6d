"""Fraud labels: an analyst decision or a chargeback about one earlier transaction.

Labels travel on the ``transactions`` topic, keyed by the labelled transaction's account, so
they are ordered with that account's transactions; ``event_type`` tells them apart. They arrive
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

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from core.contract.events import Identifier, UtcDatetime

LABEL_EVENT_TYPE = "fraud_label"


class LabelEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", title="LabelEvent")

    schema_version: Literal[1] = 1
    event_type: Literal["fraud_label"] = LABEL_EVENT_TYPE
    label_id: Identifier = Field(description="Idempotency key of the label itself")
    labelled_transaction_id: Identifier
    account_id: Identifier = Field(description="Account of the labelled transaction (the key)")
    merchant_id: Identifier | None = None
    transaction_occurred_at: UtcDatetime
    occurred_at: UtcDatetime = Field(description="When the label became known")
    is_fraud: StrictBool
    source: Literal["analyst", "chargeback", "simulator"] = "analyst"
