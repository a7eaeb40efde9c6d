"""The door every keyed request passes: who the key is, whether its scope allows the request,
whether its rate allows it now. Framework-free, so the API and the worker's web page share it.

>>> store = KeyStore("sqlite://")
>>> _, token = store.create("psp", ["publish"], actor="ops", rate_per_second=1, burst=1)
>>> gate = KeyGate(lambda: store, clock=lambda: 0.0)
>>> gate.check(token_from({"authorization": f"Bearer {token}"}), "publish").name
'psp'
>>> gate.check(token, "publish").status, gate.check(token, "read").status
(429, 403)
>>> gate.check(None, "read").status, gate.check("flk_nope", "read").status
(401, 401)
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from streams.keys.ratelimit import TokenBucket, retry_after
from streams.keys.store import ApiKey, KeyStore

KEY_HEADER = "x-api-key"
#: Sent with every 401 so clients learn both ways to present a key.
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="flowlet", charset="UTF-8"'}


@dataclass(frozen=True)
class Refusal:
    status: int
    detail: str
    headers: dict[str, str] = field(default_factory=dict)


def token_from(headers: Mapping[str, str]) -> str | None:
    """The key a request presents: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.

    >>> token_from({"X-API-Key": "k1"}), token_from({"Authorization": "Basic abc"})
    ('k1', None)
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    scheme, _, value = lowered.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return lowered.get(KEY_HEADER, "").strip() or None


class KeyGate:
    """``store``: the key store (made on first use). A checked key is trusted for
    ``cache_seconds`` (a revocation takes effect within that time) so most requests cost no
    database read."""

    def __init__(self, store: Callable[[], KeyStore], cache_seconds: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._seen: dict[str, tuple[float, ApiKey | None]] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def _lookup(self, token: str) -> ApiKey | None:
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = self.clock()
        cached = self._seen.get(digest)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        key = self._store().verify(token)
        with self._lock:
            if len(self._seen) > 10_000:  # unknown keys must not grow it without bound
                self._seen.clear()
            self._seen[digest] = (now, key)
        return key

    def check(self, token: str | None, scope: str) -> ApiKey | Refusal:
        """The key, or why it is refused: 401 (none, unknown, revoked), 403 (scope), 429."""
        if token is None:
            return Refusal(401, "an API key is required (Authorization: Bearer <key> or "
                           "X-API-Key: <key>; `flowlet keys create`)", CHALLENGE)
        key = self._lookup(token)
        if key is None:
            return Refusal(401, "unknown or revoked API key", CHALLENGE)
        if not key.allows(scope):
            return Refusal(403, f"key {key.key_id} ({key.name}) lacks scope {scope!r} "
                           f"(has {', '.join(key.scopes)})")
        with self._lock:
            bucket = self._buckets.get(key.key_id)
            if bucket is None or (bucket.rate, bucket.burst) != (key.rate_per_second, key.burst):
                bucket = self._buckets[key.key_id] = TokenBucket(
                    key.rate_per_second, key.burst, self.clock())
        wait = bucket.take(self.clock())
        if wait:
            return Refusal(429, f"key {key.key_id} is over its rate ({key.rate_per_second:g} "
                           f"requests/s, burst {key.burst}); retry later",
                           {"Retry-After": retry_after(wait)})
        return key
