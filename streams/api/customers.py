"""``POST /v1/customers``: customer profile (KYC) events, one or a batch, into the outbox.

Validated like ``/v1/transactions`` (all or nothing: a 422 names every bad item and field,
``loc`` like ``["body", 2, "country"]``, and stores nothing), answered per item ``accepted``,
``duplicate`` (same ``event_id`` and payload) or ``conflict`` (same id, other payload). The
outbox holds a profile under ``customer:<event_id>`` — transaction and profile ids never
collide — and the relay publishes it keyed by ``account_id``, so it is ordered with the
account's transactions; it is processed once the worker stored it (``customer_events``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from core.contract import CustomerEvent, customer_json_schema
from streams.outbox.customers import accept_customers
from streams.outbox.store import Outbox

MAX_BODY_BYTES = 1024 * 1024


def _error(loc: list[Any], msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


def parse_customers(body: bytes, max_batch: int
                    ) -> tuple[list[CustomerEvent], bool] | JSONResponse:
    """The request's profile events and whether it was a single object, or the 4xx answer."""
    if len(body) > MAX_BODY_BYTES:
        return JSONResponse({"detail": f"body larger than {MAX_BODY_BYTES} bytes"}, 413)
    try:
        payload = json.loads(body)
    except ValueError as exc:
        return JSONResponse({"detail": [_error(["body"], f"invalid JSON: {exc}",
                                               "json_invalid")]}, 422)
    single = isinstance(payload, dict)
    items = [payload] if single else payload
    if not isinstance(items, list) or not items:
        return JSONResponse({"detail": [_error(
            ["body"], "expected a customer event object or a non-empty array of them",
            "type_error")]}, 422)
    if len(items) > max_batch:
        return JSONResponse({"detail": f"at most {max_batch} events per request"}, 413)
    events: list[CustomerEvent] = []
    errors: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        prefix: list[Any] = ["body"] if single else ["body", i]
        try:
            events.append(CustomerEvent.model_validate(item))
        except ValidationError as exc:
            errors += [_error(prefix + list(e["loc"]), e["msg"], e["type"]) for e in
                       exc.errors(include_url=False, include_context=False,
                                  include_input=False)]
        except Exception as exc:  # e.g. a number too large to be a date: still a 4xx
            errors.append(_error(prefix, f"{type(exc).__name__}: {exc}"))
    return JSONResponse({"detail": errors}, 422) if errors else (events, single)


def customers_router(outbox: Callable[[], Outbox], wake: Callable[[int], None],
                     max_batch: int, access: Callable[..., Any]) -> APIRouter:
    """The route; ``outbox`` gives the API's outbox, ``wake(n)`` tells the relay that ``n``
    new events wait; ``access`` is the dependency that checks the caller's key."""
    router = APIRouter()
    ref = {"$ref": "#/components/schemas/CustomerEvent"}
    body = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "oneOf": [ref, {"type": "array", "items": ref, "minItems": 1,
                        "maxItems": max_batch}]}}}}}

    @router.post("/v1/customers", openapi_extra=body, dependencies=[Depends(access)],
                 responses={
        422: {"description": "Invalid input; `detail` names every bad item and field"},
        409: {"description": "Single event whose id was accepted before with another payload"},
        413: {"description": "Body or batch too large"},
    })
    async def post_customers(request: Request) -> JSONResponse:
        parsed = parse_customers(await request.body(), max_batch)
        if isinstance(parsed, JSONResponse):
            return parsed
        events, single = parsed
        results, stored = await run_in_threadpool(accept_customers, outbox(), events)
        if stored:
            wake(len(stored))
        if single:
            return JSONResponse(results[0], 409 if results[0]["status"] == "conflict" else 200)
        counts = {s: sum(r["status"] == s for r in results)
                  for s in ("accepted", "duplicate", "conflict")}
        return JSONResponse({"results": results, **counts}, 200)

    return router


def customer_components() -> dict[str, Any]:
    """The customer event's schema and its definitions, as OpenAPI components."""
    schema = customer_json_schema()
    defs = schema.pop("$defs", {})
    for k in ("$schema", "$id"):
        schema.pop(k, None)
    return {"CustomerEvent": schema, **defs}
