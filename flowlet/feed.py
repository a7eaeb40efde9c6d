"""Publishing simulated transactions live, to Kafka or to the ingestion API, at a given rate."""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from core.contract import CustomerEvent, TransactionEvent
from simulator import Simulator

log = logging.getLogger(__name__)


def run_tag(now: datetime | None = None) -> str:
    """A short tag unique to a run started at ``now`` (base 36 of its epoch tenth-seconds).

    >>> run_tag(datetime(2026, 12, 7, tzinfo=UTC))
    '894i2o0'
    """
    n = int((now or datetime.now(UTC)).timestamp() * 10)
    digits = ""
    while n:
        n, d = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[d] + digits
    return digits


def live_events(sim: Simulator, rate: float, chunk_seconds: float = 10.0,
                clock: Callable[[], datetime] = lambda: datetime.now(UTC)
                ) -> Iterator[TransactionEvent]:
    """Events stamped with the wall clock, about ``rate`` per second, each yielded when due."""
    heap: list[tuple[datetime, str, TransactionEvent]] = []
    horizon = clock()
    while True:
        now = clock()
        if horizon < now + timedelta(seconds=chunk_seconds):
            start = max(horizon, now)
            end = start + timedelta(seconds=chunk_seconds)
            for t in sim.generate(max(1, int(rate * chunk_seconds)), start, end):
                heapq.heappush(heap, (t.event.occurred_at, t.event.transaction_id, t.event))
            horizon = end
        due, _, ev = heap[0]
        wait = (due - clock()).total_seconds()
        if wait > 0:
            time.sleep(min(wait, 1.0))
            continue
        heapq.heappop(heap)
        yield ev


class ApiPublisher:
    def __init__(self, url: str, batch: int = 50, key: str = "") -> None:
        import httpx

        self.url = url.rstrip("/") + "/v1/transactions"
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(timeout=30, headers=headers)
        self.batch = batch

    def publish(self, events: list[TransactionEvent]) -> dict:
        body = [e.model_dump(mode="json", exclude_none=True) for e in events]
        resp = self.client.post(self.url, json=body)
        resp.raise_for_status()
        return resp.json()

    def publish_profiles(self, profiles: list[CustomerEvent]) -> dict:
        """Customer profiles to ``POST /v1/customers``."""
        body = [p.model_dump(mode="json", exclude_none=True) for p in profiles]
        resp = self.client.post(self.url.removesuffix("/v1/transactions") + "/v1/customers",
                                json=body)
        resp.raise_for_status()
        return resp.json()

    def close(self) -> None:
        self.client.close()


class KafkaPublisher:
    def __init__(self, bootstrap: str, topic: str, idempotence: bool = False) -> None:
        from kafka import KafkaProducer

        self.topic = topic
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                      enable_idempotence=idempotence)

    def publish(self, events: list[TransactionEvent] | list[CustomerEvent]) -> dict:
        futures = [
            self.producer.send(self.topic, e.model_dump_json(exclude_none=True).encode(),
                               key=e.account_id.encode())
            for e in events
        ]
        for f in futures:
            f.get(timeout=30)
        return {"accepted": len(futures)}

    def publish_profiles(self, profiles: list[CustomerEvent]) -> dict:
        """Customer profiles onto the same topic, keyed by account like the transactions."""
        return self.publish(profiles)

    def close(self) -> None:
        self.producer.flush()
        self.producer.close()


def publish_profiles(publisher: ApiPublisher | KafkaPublisher, sim: Simulator,
                     batch: int = 1000) -> int:
    """A KYC profile for every customer of the simulator's world (``simulator.kyc``), before
    its transactions; returns how many were sent."""
    from simulator.kyc import customer_events

    profiles = customer_events(sim.world)
    for start in range(0, len(profiles), batch):
        publisher.publish_profiles(profiles[start:start + batch])
    log.info("published %d customer profiles", len(profiles))
    return len(profiles)


def run_live(publisher: ApiPublisher | KafkaPublisher, sim: Simulator, rate: float,
             count: int | None = None, flush_seconds: float = 0.5) -> int:
    """Publish live events until ``count`` are sent (or forever); return how many were sent."""
    sent = 0
    pending: list[TransactionEvent] = []
    last_flush = time.monotonic()
    try:
        for ev in live_events(sim, rate):
            pending.append(ev)
            if len(pending) >= 200 or time.monotonic() - last_flush >= flush_seconds:
                publisher.publish(pending)
                sent += len(pending)
                pending, last_flush = [], time.monotonic()
            if count is not None and sent + len(pending) >= count:
                break
        if pending:
            publisher.publish(pending)
            sent += len(pending)
    finally:
        publisher.close()
    log.info("published %d transactions", sent)
    return sent
