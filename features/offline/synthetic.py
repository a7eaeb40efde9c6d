"""A quick vectorised random history and the offline builder's bench (not the simulator)."""

from __future__ import annotations

import numpy as np
import polars as pl

from core.frames import EVENT_SCHEMA
from features.definitions import (
    DAY,
    US,
)
from features.offline.builder import build_features


def bench_offline(n: int = 200_000, seed: int = 5) -> dict[str, float]:
    """Seconds ``build_features`` takes over ``n`` synthetic events and their labels.

    ``python -c "from features.offline import bench_offline; print(bench_offline(200_000))"``
    """
    import time

    events, labels = synthetic_history(n, seed)
    t0 = time.perf_counter()
    build_features(events, labels)
    return {"events": float(n), "labels": float(labels.height),
            "seconds": time.perf_counter() - t0}


def synthetic_history(n: int, seed: int = 0, days: float = 60.0) -> tuple[pl.DataFrame,
                                                                          pl.DataFrame]:
    """A quick vectorised random history (not the simulator): for benches only."""
    rng = np.random.default_rng(seed)
    n_acct, n_merch, n_dev = max(50, n // 50), max(20, n // 500), max(50, n // 40)
    start = 1_780_000_000 * US
    t = np.sort(rng.integers(0, int(days * DAY * US), n)) + start
    late = rng.random(n) < 0.02
    t[late] -= rng.integers(0, DAY * US, late.sum())
    types = np.array(["merchant_payment", "p2p_transfer", "top_up", "withdrawal", "refund"])
    etype = types[rng.choice(len(types), n, p=[0.6, 0.15, 0.15, 0.05, 0.05])]
    acct = rng.integers(0, n_acct, n)
    has_m = np.isin(etype, ["merchant_payment", "refund"])
    currency = np.array(["EUR", "USD", "JPY", "KWD"])[rng.choice(4, n, p=[.7, .2, .05, .05])]
    ev = pl.DataFrame({
        "transaction_id": [f"tx{i}" for i in range(n)],
        "event_type": etype,
        "occurred_at": pl.Series(t).cast(pl.Datetime("us", "UTC")),
        "amount_minor": rng.integers(100, 2_000_000, n),
        "currency": currency,
        "account_id": [f"a{i}" for i in acct],
        "counterparty_account_id": [f"a{i}" if p else None for i, p in
                                    zip(rng.integers(0, n_acct, n), etype == "p2p_transfer",
                                        strict=True)],
        "merchant_id": [f"m{i}" if h else None for i, h in
                        zip(rng.integers(0, n_merch, n), has_m, strict=True)],
        "card_token": [f"c{a}-{k}" if h else None for a, k, h in
                       zip(acct, rng.integers(0, 2, n), has_m, strict=True)],
        "device_id": [f"d{i}" if rng_ok else None for i, rng_ok in
                      zip(rng.integers(0, n_dev, n), rng.random(n) < 0.8, strict=True)],
        "country": np.array(["DE", "FR", "US", "JP", "GB"])[rng.integers(0, 5, n)],
        "channel": np.array(["web", "mobile_app", "card_present"])[rng.integers(0, 3, n)],
    })
    ev = ev.select([pl.col(c) if c in ev.columns else pl.lit(None, d).alias(c)
                    for c, d in EVENT_SCHEMA.items()])
    lab_idx = np.flatnonzero(rng.random(n) < 0.05)
    labels = pl.DataFrame({
        "labelled_transaction_id": ev["transaction_id"].gather(lab_idx),
        "merchant_id": ev["merchant_id"].gather(lab_idx),
        "device_id": ev["device_id"].gather(lab_idx),
        "counterparty_account_id": ev["counterparty_account_id"].gather(lab_idx),
        "transaction_occurred_at": ev["occurred_at"].gather(lab_idx),
        "occurred_at": ev["occurred_at"].gather(lab_idx)
        + pl.Series(rng.integers(1, 40 * DAY * US, len(lab_idx))).cast(pl.Duration("us")),
        "is_fraud": rng.random(len(lab_idx)) < 0.8,
    })
    return ev, labels
