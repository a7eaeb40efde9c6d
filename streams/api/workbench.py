"""The workbench API: alerts, cases, decisions, notes and labels, for the analysts' tools.

Actions need a workbench user (HTTP Basic; ``flowlet users add``); reading the queue and cases
takes a login or an API key with scope ``read``, posting labels one with scope ``label``
(:mod:`streams.api.auth`). Free text (notes, assignees) carrying a card number is refused like
an id carrying one (:mod:`core.contract.pan`). A refused action is a
4xx naming why (404 unknown case, 409 a decided case, 403 a role or a disabled user, 422 bad
input) and changes nothing. A decision's labels — and labels posted by an upstream chargeback
system on ``POST /v1/labels`` — go through the outbox like transactions, so they reach the
stream, the delayed-label features and the lake even if a process or the broker dies.
"""


import hashlib
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from cases import DECISIONS, CaseStore, User, WorkflowError
from cases.store import QUEUE_SORTS
from core.contract import LabelEvent, no_pan
from streams.api.auth import Access
from streams.keys import KeyGate

_basic = HTTPBasic(description="A workbench user (flowlet users add NAME --role ROLE)")
#: A checked login is trusted this long (an Argon2 check per request would cost ~50 ms).
LOGIN_CACHE_SECONDS = 60.0
#: What a case action may answer besides 200 (documented in the OpenAPI document).
ACTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "The user's role does not allow it, or the user is disabled"},
    404: {"description": "No such case"},
    409: {"description": "The case's state does not allow it (e.g. already decided)"},
}
#: Paging beyond this is refused (a 64-bit overflow in the database was a 500).
MAX_OFFSET = 10**9


class Assignment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(no_pan)]


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Annotated[str, Field(min_length=1, max_length=4000), AfterValidator(no_pan)]


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal[DECISIONS]  # type: ignore[valid-type]
    note: Annotated[str, Field(max_length=4000), AfterValidator(no_pan)] = ""


def workbench_router(store: Callable[[], CaseStore],
                     publish: Callable[[list[LabelEvent]], Any], gate: KeyGate) -> APIRouter:
    """``store``: the case store (made on first use); ``publish``: puts labels in the outbox
    and returns the per-label answers; ``gate``: checks API keys."""
    logins: dict[tuple[str, str], tuple[float, User]] = {}

    async def user(creds: Annotated[HTTPBasicCredentials, Depends(_basic)]) -> User:
        key = (creds.username, hashlib.sha256(creds.password.encode()).hexdigest())
        cached = logins.get(key)
        if cached and time.monotonic() - cached[0] < LOGIN_CACHE_SECONDS:
            return cached[1]
        found = await run_in_threadpool(store().authenticate, creds.username, creds.password,
                                        channel="api")
        if found is None:
            raise HTTPException(401, "unknown user, wrong password or disabled user",
                                headers={"WWW-Authenticate": "Basic"})
        logins[key] = (time.monotonic(), found)
        return found

    Auth = Annotated[User, Depends(user)]  # noqa: N806 - a type alias
    access = Access(gate, login=user)
    Reader = Annotated[str, Depends(access.key_or_login("read"))]  # noqa: N806
    Labeller = Annotated[str, Depends(access.key_or_login("label"))]  # noqa: N806
    router = APIRouter(prefix="/v1", tags=["workbench"])

    async def act(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await run_in_threadpool(fn, *args)
        except WorkflowError as exc:
            raise HTTPException(exc.status, str(exc)) from exc

    @router.get("/alerts")
    async def list_alerts(
            _who: Reader, status: Literal["open", "closed"] | None = "open",
            source: str | None = None, min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
            assignee: str | None = None, account_id: str | None = None,
            sort: Literal[tuple(QUEUE_SORTS)] = "priority",  # type: ignore[valid-type]
            limit: Annotated[int, Query(ge=1, le=1000)] = 100,
            offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> list[dict[str, Any]]:
        """The alert queue: open alerts by priority unless filtered otherwise."""
        return await run_in_threadpool(lambda: store().alerts(
            status=status, source=source, min_score=min_score, assignee=assignee,
            account_id=account_id, sort=sort, limit=limit, offset=offset))

    @router.get("/cases")
    async def list_cases(
            _who: Reader,
            state: Literal["new", "assigned", "in_review", "escalated", "decided"] | None = None,
            assignee: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
            offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> list[dict[str, Any]]:
        return await run_in_threadpool(lambda: store().cases(
            state=state, assignee=assignee, limit=limit, offset=offset))

    @router.get("/cases/{case_id}", responses={404: {"description": "No such case"}})
    async def get_case(case_id: str, _who: Reader) -> dict[str, Any]:
        """The case with its alerts, evidence (the alerting transactions) and notes."""
        found = await run_in_threadpool(store().case, case_id)
        if found is None:
            raise HTTPException(404, f"no case {case_id!r}")
        return found

    @router.post("/cases/{case_id}/assign", responses=ACTION_RESPONSES)
    async def assign(case_id: str, body: Assignment, who: Auth) -> dict[str, Any]:
        return await act(store().assign, case_id, body.assignee, who.username)

    @router.post("/cases/{case_id}/review", responses=ACTION_RESPONSES)
    async def review(case_id: str, who: Auth) -> dict[str, Any]:
        return await act(store().start_review, case_id, who.username)

    @router.post("/cases/{case_id}/notes", responses=ACTION_RESPONSES)
    async def add_note(case_id: str, body: Note, who: Auth) -> dict[str, Any]:
        return await act(store().add_note, case_id, body.text, who.username)

    @router.post("/cases/{case_id}/decision", responses=ACTION_RESPONSES)
    async def decide(case_id: str, body: Decision, who: Auth) -> dict[str, Any]:
        """Decide the case; a fraud / not-fraud decision labels every transaction of its
        evidence (the labels are published to the stream)."""
        outcome = await act(store().decide, case_id, body.decision, who.username, body.note)
        if outcome.labels:
            await publish(outcome.labels)
        return {"case": outcome.case,
                "labels": [lb.model_dump(mode="json") for lb in outcome.labels]}

    @router.post("/labels")
    async def post_labels(labels: LabelEvent | list[LabelEvent],
                          _who: Labeller) -> JSONResponse:
        """Labels from upstream (e.g. chargebacks), one or a list: published to the stream
        like transactions (``accepted``, ``duplicate``, ``conflict`` per label)."""
        items = labels if isinstance(labels, list) else [labels]
        if not items:
            raise HTTPException(422, "expected a label or a non-empty list of labels")
        results = await publish(items)
        return JSONResponse({"results": results})

    return router
