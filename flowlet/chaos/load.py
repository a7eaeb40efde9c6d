"""A well-behaved API client: simulated events at a steady rate, retried until answered."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import httpx


class Load:
    """A client posting batches of simulated events at ``rate`` per second through the API."""

    def __init__(self, api: str, rate: float, seed: int = 1, batch: int = 50,
                 accounts: int = 300, key: str = "") -> None:
        from simulator import Simulator

        self.api, self.rate, self.batch = api, rate, batch
        self.headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
        self.sim = Simulator(seed=seed, n_accounts=accounts, n_merchants=40)
        self.sent: dict[str, bytes] = {}  # id -> payload, every accepted or duplicate one
        self.stop = threading.Event()
        self.refused = 0
        self._thread: threading.Thread | None = None
        self._clock = datetime.now(UTC) - timedelta(days=2)

    def start(self, total: int) -> None:
        self._thread = threading.Thread(target=self._run, args=(total,), daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def _run(self, total: int) -> None:
        with httpx.Client(timeout=30) as client:
            while len(self.sent) < total and not self.stop.is_set():
                started = time.monotonic()
                n = min(self.batch, total - len(self.sent))
                end = self._clock + timedelta(seconds=n * 5)
                events = [t.event for t in self.sim.generate(n, self._clock, end)]
                self._clock = end
                payloads = {e.transaction_id: e.model_dump_json(exclude_none=True).encode()
                            for e in events}
                self.post(client, payloads)
                time.sleep(max(0.0, n / self.rate - (time.monotonic() - started)))

    def post(self, client: httpx.Client, payloads: dict[str, bytes]) -> dict[str, str]:
        """POST until answered (as a client would); return each id's status."""
        body = b"[" + b",".join(payloads.values()) + b"]"
        while not self.stop.is_set():
            try:
                resp = client.post(f"{self.api}/v1/transactions", content=body,
                                   headers=self.headers)
            except httpx.HTTPError:
                self.refused += 1
                time.sleep(0.5)
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                self.refused += 1
                time.sleep(float(resp.headers.get("retry-after", "0.5")))
                continue
            resp.raise_for_status()
            statuses = {r["transaction_id"]: r["status"] for r in resp.json()["results"]}
            for tid, status in statuses.items():
                if status in ("accepted", "duplicate"):
                    self.sent[tid] = payloads[tid]
            return statuses
        return {}

    def resend_all(self) -> tuple[int, int]:
        """Re-send every payload sent so far; return (re-sent, answered other than duplicate)."""
        items = list(self.sent.items())
        other = 0
        with httpx.Client(timeout=30) as client:
            for start in range(0, len(items), 500):
                chunk = dict(items[start:start + 500])
                statuses = self.post(client, chunk)
                other += sum(s != "duplicate" for s in statuses.values())
        return len(items), other
