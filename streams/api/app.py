"""Ingestion API: ``POST /v1/transactions`` (one event or a batch) → outbox → ``transactions``.

Validation is all-or-nothing per request: if any item is invalid the answer is 422 listing
every bad item and field (``loc`` like ``["body", 3, "amount_minor"]``) and nothing is stored.
Otherwise each item is answered ``accepted`` (stored durably in the outbox, committed before
the answer; the relay publishes it keyed by ``account_id`` and re-publishes it until its
effects are done, whatever process or broker dies), ``duplicate`` (same id and payload known;
if it is not processed yet it is published again) or ``conflict`` (same id, other payload).
When more than ``api_max_backlog`` accepted events wait to be processed the answer is 429 with
``Retry-After``: nothing is stored, send the same request later. ``GET /stats`` shows the
backlog, the consumer lag per partition and the age of the oldest unprocessed event.

Every route but ``/healthz`` and the docs needs an API key (``Authorization: Bearer <key>``
or ``X-API-Key: <key>``; ``flowlet keys create --scope publish``): posting transactions or
customer profiles takes scope ``publish``, posting labels ``label``, reading ``read`` (or a
workbench login). No key or a bad one is 401, a key outside its scope 403, a key over its rate
429 with ``Retry-After``.
Bodies must be ``application/json`` (415 otherwise), at most ``api_max_body_bytes`` (413) and
nested at most ``api_max_json_depth`` levels (422). No field may carry a card number (422).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from cases import CaseStore
from core.contract import LabelEvent, TransactionEvent
from core.settings import Settings
from streams.api.auth import Access
from streams.api.customers import customer_components, customers_router
from streams.api.docs import serve_docs
from streams.api.guard import BodyGuard
from streams.api.spec import BODY_RESPONSES, custom_openapi, request_body_schema
from streams.api.workbench import workbench_router
from streams.keys import KeyGate, KeyStore
from streams.outbox.labels import accept_labels
from streams.outbox.relay import Relay
from streams.outbox.store import Outbox

log = logging.getLogger(__name__)

def _errors(exc: ValidationError, prefix: list[Any]) -> list[dict[str, Any]]:
    return [
        {"loc": prefix + list(e["loc"]), "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def _invalid(detail: Any, status: int = 422) -> JSONResponse:
    return JSONResponse({"detail": detail}, status)


def _parse(body: bytes, max_batch: int, decoded: Any = None
           ) -> tuple[list[TransactionEvent], bool] | JSONResponse:
    """The request's events and whether it was a single object, or the 4xx answer (the body's
    size, type and depth were checked by :class:`BodyGuard`, which may have decoded it)."""
    try:
        payload = json.loads(body) if decoded is None else decoded
    except RecursionError:
        return _invalid([{"loc": ["body"], "msg": "JSON nested too deep",
                          "type": "json_too_deep"}])
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


def _triage(events: list[TransactionEvent], hashes: list[str], first: dict[str, int],
            stored: set[str], previous: dict[str, tuple[str, int]]) -> list[dict[str, str]]:
    """Each item's answer, given the ids this request stored and those known before."""
    results = []
    for i, ev in enumerate(events):
        tid = ev.transaction_id
        known_hash = previous[tid][0] if tid in previous else hashes[first[tid]]
        if hashes[i] != known_hash:
            results.append({"transaction_id": tid, "status": "conflict",
                            "detail": "transaction_id was accepted with another payload"})
        elif tid in stored and first[tid] == i:
            results.append({"transaction_id": tid, "status": "accepted"})
        else:
            results.append({"transaction_id": tid, "status": "duplicate"})
    return results


def _no_inputs(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 without the ``input`` it would echo (which might be a card number)."""
    assert isinstance(exc, RequestValidationError)
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
              for e in exc.errors()]
    return JSONResponse({"detail": detail}, 422)


def create_api(settings: Settings) -> FastAPI:
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        outbox = await run_in_threadpool(Outbox, settings.api_database_url,
                                          settings.outbox_resend_after_seconds)
        relay = Relay(settings, outbox)
        relay.backlog = await run_in_threadpool(outbox.unprocessed)
        state["outbox"], state["relay"] = outbox, relay
        task = asyncio.create_task(relay.run(), name="outbox-relay")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    api = FastAPI(title="Flowlet ingestion API", version="1", lifespan=lifespan,
                  description=__doc__, docs_url=None, redoc_url=None)
    api.add_middleware(BodyGuard, max_bytes=settings.api_max_body_bytes,  # type: ignore[arg-type]
                       max_depth=settings.api_max_json_depth)
    api.add_exception_handler(RequestValidationError, _no_inputs)
    serve_docs(api)

    def key_store() -> KeyStore:
        if "keys" not in state:
            state["keys"] = KeyStore(settings.api_database_url)
        return state["keys"]

    gate = KeyGate(key_store, settings.api_key_cache_seconds)
    access = Access(gate)
    extra = request_body_schema(settings.api_max_batch)
    api.openapi = custom_openapi(  # type: ignore[method-assign]
        api, {**extra.pop("x-components"), **customer_components()})

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/stats", dependencies=[Depends(access.key("read"))])
    async def stats() -> dict[str, Any]:
        """The outbox backlog, consumer lag per partition, and the relay's counters."""
        return state["relay"].stats()

    @api.post("/v1/transactions", openapi_extra=extra,
              dependencies=[Depends(access.key("publish"))], responses={
        **BODY_RESPONSES,
        409: {"description": "Single event whose id was accepted before with another payload"},
        413: {"description": f"Body larger than {settings.api_max_body_bytes} bytes, or more "
                             f"than {settings.api_max_batch} events"},
    })
    async def post_transactions(request: Request) -> JSONResponse:
        parsed = _parse(await request.body(), settings.api_max_batch,
                        getattr(request.state, "parsed_json", None))
        if isinstance(parsed, JSONResponse):
            return parsed
        events, single = parsed
        relay: Relay = state["relay"]
        if relay.backlog >= settings.api_max_backlog:
            return JSONResponse(
                {"detail": f"{relay.backlog} accepted events wait to be processed (bound "
                           f"{settings.api_max_backlog}); retry later"}, 429,
                headers={"Retry-After": str(settings.api_retry_after_seconds)})
        wire = [ev.model_dump_json(exclude_none=True).encode() for ev in events]
        hashes = [hashlib.sha256(raw).hexdigest() for raw in wire]
        first: dict[str, int] = {}
        for i, ev in enumerate(events):
            first.setdefault(ev.transaction_id, i)
        stored, previous = await run_in_threadpool(state["outbox"].accept, [
            (tid, events[i].account_id, wire[i], hashes[i]) for tid, i in first.items()])
        if stored:
            relay.backlog += len(stored)  # the relay recounts at its next reconcile
            relay.wake()
        results = _triage(events, hashes, first, stored, previous)
        if single:
            code = 409 if results[0]["status"] == "conflict" else 200
            return JSONResponse(results[0], code)
        counts = {s: sum(r["status"] == s for r in results)
                  for s in ("accepted", "duplicate", "conflict")}
        return JSONResponse({"results": results, **counts}, 200)

    def case_store() -> CaseStore:
        if "cases" not in state:  # the workbench's tables live with the ledger's
            state["cases"] = CaseStore(settings.database_url)
        return state["cases"]

    async def publish_labels(labels: list[LabelEvent]) -> list[dict[str, str]]:
        results, stored = await run_in_threadpool(accept_labels, state["outbox"], labels)
        if stored:
            state["relay"].wake()
        return results

    api.include_router(workbench_router(case_store, publish_labels, gate))

    def customers_accepted(n: int) -> None:
        state["relay"].backlog += n
        state["relay"].wake()

    api.include_router(customers_router(lambda: state["outbox"], customers_accepted,
                                        settings.api_max_batch, access.key("publish")))
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
