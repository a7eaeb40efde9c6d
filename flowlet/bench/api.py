"""Ingestion API throughput: batched POSTs from a few concurrent clients."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx


def post_batches(url: str, payloads: list[bytes], batch: int = 500,
                 clients: int = 4, key: str = "") -> dict[str, float]:
    """POST ``payloads`` in batches of ``batch`` (JSON arrays) from ``clients`` threads with
    API key ``key``; return accepted events per second and the counts the API answered."""
    bodies = [b"[" + b",".join(payloads[i:i + batch]) + b"]"
              for i in range(0, len(payloads), batch)]
    counts = {"accepted": 0, "duplicate": 0, "conflict": 0, "refused": 0}

    def send(client: httpx.Client, body: bytes) -> None:
        while True:
            r = client.post(url, content=body, headers={"content-type": "application/json",
                                                        "authorization": f"Bearer {key}"})
            if r.status_code == 429:  # backpressure: do as the API says
                counts["refused"] += 1
                time.sleep(float(r.headers.get("Retry-After", "1")))
                continue
            r.raise_for_status()
            answer = r.json()
            for status in ("accepted", "duplicate", "conflict"):
                counts[status] += answer[status]
            return

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        http = [httpx.Client(timeout=60) for _ in range(clients)]
        list(pool.map(lambda ib: send(http[ib[0] % clients], ib[1]), enumerate(bodies)))
        for c in http:
            c.close()
    elapsed = time.perf_counter() - started
    return {"api_per_s": counts["accepted"] / elapsed, "api_seconds": elapsed,
            **{f"api_{k}": float(v) for k, v in counts.items()}}
