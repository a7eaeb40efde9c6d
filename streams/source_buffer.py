"""Records fetched for a source topic, waiting for its agent to take them a batch at a time.

The consumer (``streams.offsets``) appends the records of each fetch as they come; the agent
takes what is there, up to a batch, in one call. This replaces Faust's per-record hand-off
(a conductor delivery, a stream step and four asyncio tasks per record) on the worker's hot
path. The buffer holds at most ``limit`` records: a full buffer makes the consumer wait (for
room, or for a rebalance, which abandons the wait and clears the buffer).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any


class SourceBuffer:
    """A bounded FIFO of consumer messages with "something is there" and "room" signals."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._records: deque[Any] = deque()
        self._ready = asyncio.Event()  # at least one record is there
        self._room = asyncio.Event()  # fewer than ``limit`` records are there
        self._room.set()
        self._full = asyncio.Event()  # at least ``_wanted`` records are there
        self._wanted = 0

    def __len__(self) -> int:
        return len(self._records)

    @property
    def has_room(self) -> bool:
        return len(self._records) < self.limit

    async def room(self) -> None:
        """Until a take made room (the caller also waits for a rebalance; see offsets)."""
        if not self.has_room:
            self._room.clear()
            await self._room.wait()

    def append(self, message: Any) -> None:
        records = self._records
        records.append(message)
        if len(records) == 1:
            self._ready.set()
        if self._wanted and len(records) >= self._wanted:
            self._full.set()

    def clear(self) -> None:
        """Drop every record (a rebalance: they are fetched again from the committed offsets)."""
        self._records.clear()
        self._ready.clear()
        self._room.set()

    async def take(self, max_records: int, linger: float = 0.0) -> list[Any]:
        """Up to ``max_records`` records, waiting only until there is one: what is there is
        taken at once. With ``linger`` > 0, fewer than ``max_records`` wait up to that many
        seconds for more (a full batch ends the wait)."""
        records = self._records
        while True:
            while not records:
                self._ready.clear()
                await self._ready.wait()
            if linger > 0 and len(records) < max_records:
                await self._linger(max_records, linger)
            if records:  # a rebalance may have cleared them meanwhile
                break
        batch = [records.popleft() for _ in range(min(max_records, len(records)))]
        if not records:
            self._ready.clear()
        self._room.set()
        return batch

    async def _linger(self, max_records: int, seconds: float) -> None:
        self._wanted = max_records
        self._full.clear()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), seconds)
        finally:
            self._wanted = 0
