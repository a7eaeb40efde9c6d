"""Who may call what: API keys (scoped, rate-limited) and, for people, the workbench login.

``Access(gate, login)`` makes FastAPI dependencies: ``access.key(scope)`` wants a key with that
scope; ``access.key_or_login(scope)`` also takes a workbench user's HTTP Basic login (analysts
read the queue and post labels with their own account). Refusals: 401 without a key or with a
bad one, 403 outside the key's scope, 429 with ``Retry-After`` over the key's rate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPBasic, HTTPBasicCredentials, HTTPBearer

from streams.keys import KeyGate, Refusal, token_from

#: Both ways to present a key, documented in the OpenAPI document (Swagger UI's "Authorize").
bearer_scheme = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
key_header_scheme = APIKeyHeader(name="X-API-Key", auto_error=False,
                                 description="X-API-Key: <API key> (`flowlet keys create`)")
basic_scheme = HTTPBasic(auto_error=False,
                         description="A workbench user (flowlet users add NAME --role ROLE)")

Login = Callable[[HTTPBasicCredentials], Awaitable[object]]


class Access:
    def __init__(self, gate: KeyGate, login: Login | None = None) -> None:
        self.gate = gate
        self.login = login

    async def _check(self, request: Request, scope: str) -> str:
        token = token_from(request.headers)
        verdict = await run_in_threadpool(self.gate.check, token, scope)
        if isinstance(verdict, Refusal):
            raise HTTPException(verdict.status, verdict.detail, headers=verdict.headers or None)
        return f"key:{verdict.key_id}"

    # The security-scheme parameters (_b, _h, basic) are unused by the checks, which read the
    # headers themselves: they put the schemes in the OpenAPI document and Swagger UI.
    def key(self, scope: str) -> Callable[..., Awaitable[str]]:
        """A dependency returning ``key:<id>`` of a key allowed ``scope``."""
        async def need_key(request: Request,
                           _b: Annotated[object, Depends(bearer_scheme)] = None,
                           _h: Annotated[object, Depends(key_header_scheme)] = None) -> str:
            return await self._check(request, scope)

        return need_key

    def key_or_login(self, scope: str) -> Callable[..., Awaitable[str]]:
        """A dependency returning ``key:<id>`` or ``user:<name>``."""
        async def need_key_or_login(
                request: Request,
                basic: Annotated[HTTPBasicCredentials | None, Depends(basic_scheme)] = None,
                _b: Annotated[object, Depends(bearer_scheme)] = None,
                _h: Annotated[object, Depends(key_header_scheme)] = None) -> str:
            if basic is not None and self.login is not None and token_from(
                    request.headers) is None:
                user = await self.login(basic)
                return f"user:{getattr(user, 'username', user)}"
            return await self._check(request, scope)

        return need_key_or_login
