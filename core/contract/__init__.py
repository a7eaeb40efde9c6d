"""The event contract shared by the API, the stream, the simulator and the models."""

from core.contract.currencies import MINOR_UNITS, format_minor
from core.contract.customers import CUSTOMER_EVENT_TYPE, CustomerEvent, CustomerType
from core.contract.events import (
    SCHEMA_NAME,
    SCHEMA_VERSION,
    Channel,
    EventType,
    TransactionEvent,
)
from core.contract.labels import LABEL_EVENT_TYPE, LabelEvent, label_for
from core.contract.pan import find_pan, no_pan, redact_pans
from core.contract.reporting import REPORTING_THRESHOLD_MAJOR, structuring_band
from core.contract.schema import (
    CUSTOMER_SCHEMA_PATH,
    SCHEMA_PATH,
    customer_json_schema,
    transaction_json_schema,
)

__all__ = [
    "CUSTOMER_EVENT_TYPE",
    "CUSTOMER_SCHEMA_PATH",
    "MINOR_UNITS",
    "REPORTING_THRESHOLD_MAJOR",
    "SCHEMA_NAME",
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "Channel",
    "CustomerEvent",
    "CustomerType",
    "EventType",
    "LABEL_EVENT_TYPE",
    "LabelEvent",
    "label_for",
    "TransactionEvent",
    "customer_json_schema",
    "find_pan",
    "format_minor",
    "no_pan",
    "redact_pans",
    "structuring_band",
    "transaction_json_schema",
]
