"""The API's outer door for request bodies, before any route parses one.

* a body over ``max_bytes`` (by ``Content-Length`` or as it streams in) → **413**;
* a non-empty body that is not ``application/json`` (or ``…+json``) → **415**;
* JSON nested deeper than ``max_depth`` → **422** (Python's recursive decoder raises
  ``RecursionError`` at about 1,000 levels: ``[``×100,000 was a 500, here it is a 422 too).

A body with at most ``max_depth`` brackets cannot be too deep and is not looked at (a byte
count); otherwise it is decoded once here — the decoded value is left in the request's state
(``parsed_json``) so the route need not decode it again — and its nesting walked without
recursion. An undecodable body is left to the route, which names the problem.

>>> nesting([{"a": [1, "]]]]"]}], limit=32), nesting([[[[[]]]]], limit=32)
(3, 5)
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def nesting(value: Any, limit: int) -> int:
    """How deeply arrays and objects nest in ``value`` (stops counting past ``limit``)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        children = item.values() if isinstance(item, dict) else item
        deepest = max(deepest, depth)
        if depth > limit:
            break
        todo += [(c, depth + 1) for c in children if isinstance(c, dict | list)]
    return deepest if isinstance(value, dict | list) else 0


def is_json(content_type: str) -> bool:
    """Whether a Content-Type is JSON.

    >>> is_json("application/json; charset=utf-8"), is_json("text/plain")
    (True, False)
    """
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                           and media.endswith("+json"))


def _problem(status: int, msg: str, kind: str) -> JSONResponse:
    return JSONResponse({"detail": [{"loc": ["body"], "msg": msg, "type": kind}]}, status)


class BodyGuard:
    """ASGI middleware enforcing size, content type and depth on request bodies."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope["headers"]}
        refusal = self._refuse_length(headers.get("content-length"))
        body = b""
        more = refusal is None
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                refusal = self._too_large()
                break
        if refusal is None and body:
            refusal = self._refuse_body(scope, headers.get("content-type", ""), body)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                return await receive()  # type: ignore[return-value]
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _too_large(self) -> JSONResponse:
        return _problem(413, f"body larger than {self.max_bytes} bytes", "body_too_large")

    def _refuse_length(self, length: str | None) -> JSONResponse | None:
        if length is None:
            return None
        if not length.strip().isdigit():
            return _problem(400, "Content-Length is not a number", "bad_content_length")
        return self._too_large() if int(length) > self.max_bytes else None

    def _refuse_body(self, scope: Scope, content_type: str, body: bytes
                     ) -> JSONResponse | None:
        if not is_json(content_type):
            return _problem(415, f"Content-Type must be application/json, not "
                            f"{content_type.split(';', 1)[0].strip()[:64] or 'missing'}",
                            "unsupported_media_type")
        if body.count(b"[") + body.count(b"{") <= self.max_depth:
            return None
        too_deep = f"JSON nested more than {self.max_depth} levels deep"
        try:
            value = json.loads(body)
        except RecursionError:
            return _problem(422, too_deep, "json_too_deep")
        except ValueError:
            return None  # the route answers with what is wrong
        if nesting(value, self.max_depth) > self.max_depth:
            return _problem(422, too_deep, "json_too_deep")
        scope.setdefault("state", {})["parsed_json"] = value
        return None
