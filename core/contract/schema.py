"""JSON Schemas of the events, generated from the pydantic models.

The files ``core/schemas/transaction.v1.json`` and ``core/schemas/customer.v1.json`` are
committed so upstream teams can read the contract without Python; ``flowlet schema --write``
regenerates them and tests keep them equal.
"""

import json
from pathlib import Path

from pydantic import BaseModel

from core.contract.customers import CustomerEvent
from core.contract.events import SCHEMA_NAME, SCHEMA_VERSION, TransactionEvent

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
SCHEMA_PATH = SCHEMA_DIR / f"transaction.v{SCHEMA_VERSION}.json"
CUSTOMER_SCHEMA_PATH = SCHEMA_DIR / "customer.v1.json"


def _json_schema(model: type[BaseModel], name: str, version: int) -> dict:
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"urn:{name}:v{version}"
    return schema


def transaction_json_schema() -> dict:
    return _json_schema(TransactionEvent, SCHEMA_NAME, SCHEMA_VERSION)


def customer_json_schema() -> dict:
    return _json_schema(CustomerEvent, "flowlet.customer", 1)


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    """Write the transaction schema to ``path`` and the customer schema beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(transaction_json_schema(), indent=2, sort_keys=True) + "\n")
    customer = path.parent / CUSTOMER_SCHEMA_PATH.name
    customer.write_text(json.dumps(customer_json_schema(), indent=2, sort_keys=True) + "\n")
    return path
