"""Publishing simulated transactions live, to Kafka or to the ingestion API, at a given rate."""

from __future__ import annotations

import heapq
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from core.contract import CustomerEvent, TransactionEvent
from simulator import Simulator
from simulator.pacing import Pace

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
                clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                pace: Pace | None = None, since: datetime | None = None
                ) -> Iterator[TransactionEvent]:
    """Events stamped with the wall clock, each yielded when due: ``rate`` per second on
    average, following the world's rhythm (:class:`simulator.pacing.Pace`; pass the one that
    drew the world's history, and its end as ``since``, to continue it: the events since
    then come first, at once)."""
    pace = pace or Pace(sim, rate)
    heap: list[tuple[datetime, str, TransactionEvent]] = []
    horizon = since or clock()
    catching_up = since is not None
    while True:
        now = clock()
        if horizon < now + timedelta(seconds=chunk_seconds):
            # behind the clock (a slow API): skip ahead, unless catching up with the history
            start = horizon if catching_up else max(horizon, now)
            catching_up = catching_up and start < now
            end = start + timedelta(seconds=chunk_seconds)
            for t in pace.window(start, end):
                heapq.heappush(heap, (t.event.occurred_at, t.event.transaction_id, t.event))
            horizon = end
        if not heap:  # a quiet window (a night at a low rate): wait for the next one
            time.sleep(min(max((horizon - clock()).total_seconds() - chunk_seconds, 0.0), 1.0))
            continue
        due, _, ev = heap[0]
        wait = (due - clock()).total_seconds()
        if wait > 0:
            time.sleep(min(wait, 1.0))
            continue
        heapq.heappop(heap)
        yield ev


#: what a publisher reports per batch: how many events got each answer
OUTCOMES = ("accepted", "duplicate", "conflict", "rejected")


class ApiPublisher:
    """POSTs batches to ``/v1/transactions`` and counts the API's answer per event: accepted,
    duplicate, conflict — or, when the whole batch is refused (4xx/5xx), rejected, keeping the
    last refusal's status and detail in :attr:`last_refusal`. ``key`` (an API key with scope
    ``publish``) and ``headers`` go with every request."""

    def __init__(self, url: str, batch: int = 50, key: str = "",
                 headers: Mapping[str, str] | None = None) -> None:
        import httpx

        self.base_url = url.rstrip("/")
        self.url = self.base_url + "/v1/transactions"
        sent = dict(headers or {})
        if key:
            sent["Authorization"] = f"Bearer {key}"
        self.client = httpx.Client(timeout=30, headers=sent)
        self.batch = batch
        self.last_refusal: str | None = None

    def publish(self, events: list[TransactionEvent]) -> dict[str, int]:
        import httpx

        body = [e.model_dump(mode="json", exclude_none=True) for e in events]
        try:
            resp = self.client.post(self.url, json=body)
        except httpx.TransportError as exc:  # an OSError for the CLI: one line, exit 1
            raise ConnectionError(f"cannot reach the API at {self.base_url}: {exc}") from exc
        if resp.status_code != 200:
            self.last_refusal = f"HTTP {resp.status_code}: {_detail(resp)}"
            log.warning("the API refused a batch of %d: %s", len(events), self.last_refusal)
            return {"rejected": len(events)}
        answer = resp.json()
        return {k: int(answer.get(k, 0)) for k in ("accepted", "duplicate", "conflict")}

    def publish_profiles(self, profiles: list[CustomerEvent]) -> dict:
        """Customer profiles to ``POST /v1/customers``."""
        body = [p.model_dump(mode="json", exclude_none=True) for p in profiles]
        resp = self.client.post(self.url.removesuffix("/v1/transactions") + "/v1/customers",
                                json=body)
        resp.raise_for_status()
        return resp.json()

    def close(self) -> None:
        self.client.close()


def _detail(resp: Any) -> str:
    try:
        detail = resp.json().get("detail", resp.text)
    except ValueError:
        detail = resp.text
    return " ".join(str(detail).split())[:300]


class KafkaPublisher:
    def __init__(self, bootstrap: str, topic: str, idempotence: bool = False) -> None:
        from kafka import KafkaProducer

        self.topic = topic
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                      enable_idempotence=idempotence)

    last_refusal: str | None = None  # the broker acks or raises

    def publish(self, events: list[TransactionEvent] | list[CustomerEvent]) -> dict[str, int]:
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
             count: int | None = None, flush_seconds: float = 0.5,
             pace: Pace | None = None, since: datetime | None = None) -> Counter[str]:
    """Publish live events until ``count`` are sent (or forever); return how many got each
    answer (:data:`OUTCOMES`)."""
    answers: Counter[str] = Counter()
    pending: list[TransactionEvent] = []
    last_flush = time.monotonic()
    try:
        for ev in live_events(sim, rate, pace=pace, since=since):
            pending.append(ev)
            if len(pending) >= 200 or time.monotonic() - last_flush >= flush_seconds:
                answers.update(publisher.publish(pending))
                pending, last_flush = [], time.monotonic()
            if count is not None and answers.total() + len(pending) >= count:
                break
        if pending:
            answers.update(publisher.publish(pending))
    finally:
        publisher.close()
    log.info("published %d transactions: %s", answers.total(), describe(answers))
    return answers


def describe(answers: Counter[str]) -> str:
    """The answers in one phrase.

    >>> describe(Counter(accepted=38, duplicate=2))
    'accepted 38, duplicate 2, conflict 0, rejected 0'
    """
    return ", ".join(f"{k} {answers.get(k, 0)}" for k in OUTCOMES)
