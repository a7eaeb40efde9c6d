"""The event contract shared by the API, the stream, the simulator and the models."""

from flowlet.contract.currencies import MINOR_UNITS, format_minor
from flowlet.contract.events import (
    SCHEMA_NAME,
    SCHEMA_VERSION,
    Channel,
    EventType,
    TransactionEvent,
)
from flowlet.contract.labels import LABEL_EVENT_TYPE, LabelEvent
from flowlet.contract.schema import SCHEMA_PATH, transaction_json_schema

__all__ = [
    "MINOR_UNITS",
    "SCHEMA_NAME",
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "Channel",
    "EventType",
    "LABEL_EVENT_TYPE",
    "LabelEvent",
    "TransactionEvent",
    "format_minor",
    "transaction_json_schema",
]
