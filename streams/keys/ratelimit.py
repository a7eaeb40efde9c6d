"""A token bucket per API key: ``burst`` requests at once, refilled at ``rate`` per second.

>>> bucket = TokenBucket(rate=2.0, burst=2, now=0.0)
>>> bucket.take(0.0), bucket.take(0.0), bucket.take(0.0)
(0.0, 0.0, 0.5)
>>> bucket.take(0.5)
0.0
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float
    burst: int
    now: float
    tokens: float = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self, now: float) -> float:
        """0.0 when a request may go now (and counts it), else the seconds until it may."""
        with self._lock:
            self.tokens = min(self.burst, self.tokens + (now - self.now) * self.rate)
            self.now = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return 0.0
            return (1.0 - self.tokens) / self.rate


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` header value: whole seconds, at least 1.

    >>> retry_after(0.2), retry_after(1.5)
    ('1', '2')
    """
    return str(max(1, math.ceil(seconds)))
