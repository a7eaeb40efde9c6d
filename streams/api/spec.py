"""The OpenAPI document, made to match the API's behaviour.

The event schema (from :mod:`core.contract`) is the request body's component; every keyed
operation documents 401/403/429 and every operation with a body 400/413/415/422, as
:mod:`streams.api.auth` and :mod:`streams.api.guard` answer them.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from core.contract import transaction_json_schema

#: Answers every keyed route may give, documented on each (the spec matches the behaviour).
KEYED_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one"},
    403: {"description": "The key lacks the route's scope"},
    429: {"description": "Over the key's rate (or the backlog's bound); retry after "
                         "`Retry-After` seconds"},
}
BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Body not decodable (e.g. not UTF-8) or a bad Content-Length"},
    413: {"description": "Body (or batch) too large"},
    415: {"description": "Content-Type is not application/json"},
    422: {"description": "Invalid input (or JSON nested too deep); `detail` names every bad "
                         "item and field, never echoing a value"},
}


def request_body_schema(max_items: int) -> dict[str, Any]:
    schema = transaction_json_schema()
    defs = schema.pop("$defs", {})
    for k in ("$schema", "$id"):
        schema.pop(k, None)
    ref = {"$ref": "#/components/schemas/TransactionEvent"}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {
                "oneOf": [ref, {"type": "array", "items": ref, "minItems": 1,
                                "maxItems": max_items}]}}},
        },
        "x-components": {"TransactionEvent": schema, **defs},
    }


def custom_openapi(api: FastAPI, components: dict[str, Any]) -> Any:
    """The generated spec with the event schema (and its definitions) as components."""
    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            spec = get_openapi(title=api.title, version=api.version,
                               description=api.description, routes=api.routes)
            document_doors(spec)
            spec.setdefault("components", {}).setdefault("schemas", {}).update(
                json.loads(json.dumps(components).replace("#/$defs/", "#/components/schemas/"))
            )
            api.openapi_schema = spec
        return api.openapi_schema

    return openapi


def document_doors(spec: dict[str, Any]) -> None:
    """Every secured operation documents 401/403/429, every one with a body 400/413/415/422.

    >>> spec = {"paths": {"/x": {"post": {"security": [{"k": []}], "requestBody": {},
    ...                                   "responses": {"200": {}}}}}}
    >>> document_doors(spec); sorted(spec["paths"]["/x"]["post"]["responses"])
    ['200', '400', '401', '403', '413', '415', '422', '429']
    """
    for path in spec.get("paths", {}).values():
        for op in path.values():
            responses = op.setdefault("responses", {})
            extra = {**(KEYED_RESPONSES if op.get("security") else {}),
                     **(BODY_RESPONSES if "requestBody" in op else {})}
            for code, doc in extra.items():
                responses.setdefault(str(code), doc)
