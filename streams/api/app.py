"""Ingestion API: ``POST /v1/transactions`` (one event or a batch) → topic ``transactions``.

Validation is all-or-nothing per request: if any item is invalid the answer is 422 listing
every bad item and field (``loc`` like ``["body", 3, "amount_minor"]``) and nothing is
published. Otherwise each item is answered ``accepted`` (published and acknowledged by the
broker, keyed by ``account_id``), ``duplicate`` (same id and payload already published; not
published again) or ``conflict`` (same id, different payload). If the broker does not
acknowledge, the answer is 503 ("not confirmed": a buffered send may still arrive later) and
the same request may simply be retried; consumers deduplicate by ``transaction_id``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from core.contract import TransactionEvent, transaction_json_schema
from core.settings import Settings
from streams.api.receipts import ReceiptStore

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024


def _errors(exc: ValidationError, prefix: list[Any]) -> list[dict[str, Any]]:
    return [
        {"loc": prefix + list(e["loc"]), "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def _request_body_schema(max_items: int) -> dict[str, Any]:
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


async def _publish(producer: AIOKafkaProducer, topic: str,
                   items: Iterable[tuple[TransactionEvent, bytes]]) -> None:
    futures = [await producer.send(topic, raw, key=ev.account_id.encode()) for ev, raw in items]
    await asyncio.gather(*futures)  # answer only after the broker acknowledged


def _invalid(detail: Any, status: int = 422) -> JSONResponse:
    return JSONResponse({"detail": detail}, status)


def _parse(body: bytes, max_batch: int) -> tuple[list[TransactionEvent], bool] | JSONResponse:
    """The request's events and whether it was a single object, or the 4xx answer."""
    if len(body) > MAX_BODY_BYTES:
        return _invalid(f"body larger than {MAX_BODY_BYTES} bytes", 413)
    try:
        payload = json.loads(body)
    except ValueError as exc:
        return _invalid([{"loc": ["body"], "msg": f"invalid JSON: {exc}",
                          "type": "json_invalid"}])
    single = isinstance(payload, dict)
    items = [payload] if single else payload
    if not isinstance(items, list) or not items:
        return _invalid([{"loc": ["body"], "type": "type_error",
                          "msg": "expected an event object or a non-empty array of events"}])
    if len(items) > max_batch:
        return _invalid(f"at most {max_batch} events per request", 413)
    events: list[TransactionEvent] = []
    errors: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        try:
            events.append(TransactionEvent.model_validate(item))
        except ValidationError as exc:
            errors += _errors(exc, ["body"] if single else ["body", i])
        except Exception as exc:  # e.g. a number too large to be a date: still a 4xx
            errors.append({"loc": ["body"] if single else ["body", i],
                           "msg": f"{type(exc).__name__}: {exc}", "type": "value_error"})
    return _invalid(errors) if errors else (events, single)


def _triage(events: list[TransactionEvent], wire: list[bytes], hashes: dict[str, str],
            previous: dict[str, tuple[str, str]]
            ) -> tuple[dict[str, tuple[TransactionEvent, bytes]], list[dict[str, str]]]:
    """What to publish, and each item's answer, given the receipts claimed before."""
    to_send: dict[str, tuple[TransactionEvent, bytes]] = {}
    results = []
    for ev, raw in zip(events, wire, strict=True):
        tid = ev.transaction_id
        known_hash, known_state = previous.get(tid, (hashes[tid], "pending"))
        if hashlib.sha256(raw).hexdigest() != known_hash:
            results.append({"transaction_id": tid, "status": "conflict",
                            "detail": "transaction_id was accepted with another payload"})
        elif tid in to_send or known_state == "published":
            results.append({"transaction_id": tid, "status": "duplicate"})
        else:  # new, or pending after a failed/ambiguous publish: (re)publish it
            to_send[tid] = (ev, raw)
            results.append({"transaction_id": tid, "status": "accepted"})
    return to_send, results


def _custom_openapi(api: FastAPI, components: dict[str, Any]) -> Any:
    """The generated spec with the event schema (and its definitions) as components."""
    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            spec = get_openapi(title=api.title, version=api.version,
                               description=api.description, routes=api.routes)
            spec.setdefault("components", {}).setdefault("schemas", {}).update(
                json.loads(json.dumps(components).replace("#/$defs/", "#/components/schemas/"))
            )
            api.openapi_schema = spec
        return api.openapi_schema

    return openapi


def create_api(settings: Settings) -> FastAPI:
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.broker, acks="all", linger_ms=2,
            enable_idempotence=settings.producer_idempotence,
        )
        await producer.start()
        state["producer"] = producer
        state["receipts"] = await run_in_threadpool(ReceiptStore, settings.api_database_url)
        try:
            yield
        finally:
            await producer.stop()

    api = FastAPI(title="Flowlet ingestion API", version="1", lifespan=lifespan,
                  description=__doc__)
    extra = _request_body_schema(settings.api_max_batch)
    api.openapi = _custom_openapi(api, extra.pop("x-components"))  # type: ignore[method-assign]

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.post("/v1/transactions", openapi_extra=extra, responses={
        422: {"description": "Invalid input; `detail` names every bad item and field"},
        409: {"description": "Single event whose id was accepted before with another payload"},
        413: {"description": "Body or batch too large"},
        503: {"description": "Broker did not acknowledge; retry the same request"},
    })
    async def post_transactions(request: Request) -> JSONResponse:
        parsed = _parse(await request.body(), settings.api_max_batch)
        if isinstance(parsed, JSONResponse):
            return parsed
        events, single = parsed
        wire = [ev.model_dump_json(exclude_none=True).encode() for ev in events]
        hashes: dict[str, str] = {}
        for ev, raw in zip(events, wire, strict=True):
            hashes.setdefault(ev.transaction_id, hashlib.sha256(raw).hexdigest())
        claimed, previous = await run_in_threadpool(state["receipts"].claim, hashes)
        to_send, results = _triage(events, wire, hashes, previous)
        try:
            await asyncio.wait_for(_publish(state["producer"], settings.topic_transactions,
                                            to_send.values()),
                                   settings.api_publish_timeout_seconds)
        except Exception as exc:
            log.exception("publish failed")
            # Receipts stay pending: a retry with the same payload publishes again.
            return _invalid(f"broker unavailable: {type(exc).__name__}; retry the same "
                            "request", 503)
        await run_in_threadpool(state["receipts"].mark_published, set(to_send))
        if single:
            code = 409 if results[0]["status"] == "conflict" else 200
            return JSONResponse(results[0], code)
        counts = {s: sum(r["status"] == s for r in results)
                  for s in ("accepted", "duplicate", "conflict")}
        return JSONResponse({"results": results, **counts}, 200)

    return api


def run_api(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM; exits 0 after a graceful shutdown."""
    import signal

    import uvicorn

    # uvicorn shuts down gracefully, then re-raises the signal to the previous handler;
    # a no-op handler there turns a requested stop into a clean exit instead of a kill.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    uvicorn.run(create_api(settings), host=settings.api_host, port=settings.api_port,
                log_level="warning")
