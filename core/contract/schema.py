"""JSON Schema for the transaction event, generated from the pydantic model.

The file ``core/schemas/transaction.v1.json`` is committed so upstream teams can read the
contract without Python; ``flowlet schema --write`` regenerates it and a test keeps it equal.
"""

import json
from pathlib import Path

from core.contract.events import SCHEMA_NAME, SCHEMA_VERSION, TransactionEvent

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
SCHEMA_PATH = SCHEMA_DIR / f"transaction.v{SCHEMA_VERSION}.json"


def transaction_json_schema() -> dict:
    schema = TransactionEvent.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"urn:{SCHEMA_NAME}:v{SCHEMA_VERSION}"
    return schema


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(transaction_json_schema(), indent=2, sort_keys=True) + "\n")
    return path
