"""Helpers every typology uses: cases, their start times, actors and expansion into rows.

>>> case, step = expand(np.array([2, 3]))
>>> case.tolist(), step.tolist()
([0, 0, 1, 1, 1], [0, 1, 0, 1, 2])
"""

from __future__ import annotations

import numpy as np

from simulator.geography import HIGH_RISK_COUNTRIES, TRAVEL_COUNTRIES
from simulator.rhythm import DAY_US
from simulator.rows import Scene


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row → (case number, step within the case) for cases of ``counts`` rows each."""
    counts = np.asarray(counts, dtype=np.int64)
    case = np.repeat(np.arange(len(counts)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    return case, np.arange(len(case)) - first


def starts(scene: Scene, n: int, span_us: int = DAY_US) -> np.ndarray:
    """Case start times, leaving ``span_us`` before the window's end when the window allows
    (a shorter window: anywhere in it; the case's later events fall after the window)."""
    latest = scene.end_us - span_us
    latest = latest if latest > scene.start_us else max(scene.end_us, scene.start_us + 1)
    return scene.rng.integers(scene.start_us, latest, n, dtype=np.int64)


def customers(scene: Scene, n: int, *, mules: bool = False, currency: str | None = None
              ) -> np.ndarray:
    """``n`` customer numbers: mules or ordinary customers, optionally of one home currency."""
    people = scene.world.customers
    pool = np.flatnonzero(people.mule == mules)
    if currency is not None:
        same = pool[people.currency[pool] == currency]
        pool = same if len(same) else pool
    return pool[scene.rng.integers(0, len(pool), n)]


def distinct_others(scene: Scene, actors: np.ndarray, k: int) -> np.ndarray:
    """(len(actors), k) customer numbers, none equal to its row's actor."""
    n = len(scene.world.customers)
    offset = scene.rng.integers(1, max(n, 2), (len(actors), k))
    return (actors[:, None] + offset) % n


def fraud_countries(scene: Scene, n: int, high_risk_share: float = 0.7) -> np.ndarray:
    rng = scene.rng
    risky = np.array(HIGH_RISK_COUNTRIES)[rng.integers(0, len(HIGH_RISK_COUNTRIES), n)]
    abroad = np.array(TRAVEL_COUNTRIES)[rng.integers(0, len(TRAVEL_COUNTRIES), n)]
    return np.where(rng.random(n) < high_risk_share, risky, abroad)


def fraud_ips(scene: Scene, n: int) -> np.ndarray:
    octets = scene.rng.integers(1, 255, (n, 2))
    return np.array([f"198.51.{a}.{b}" for a, b in octets])


def fraud_devices(scene: Scene, owners: np.ndarray, kind: str) -> np.ndarray:
    """Device ids of fraudsters; a device is reused across the cases of one owner number."""
    return np.array([f"dev-{scene.world.seed}.{kind}{o}" for o in owners])


def merchants_of(scene: Scene, n: int, mccs: tuple[str, ...]) -> np.ndarray:
    """``n`` merchant numbers in the given categories (any merchant when none exists)."""
    shops = scene.world.merchants
    pool = np.flatnonzero(np.isin(shops.mcc, mccs))
    pool = pool if len(pool) else np.arange(len(shops))
    return pool[scene.rng.integers(0, len(pool), n)]


def elapsed_within(case: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """Running sum of ``gaps`` restarting at each case (first row of a case: 0)."""
    total = np.cumsum(gaps)
    first = np.r_[True, case[1:] != case[:-1]] if len(case) else np.zeros(0, bool)
    base = np.maximum.accumulate(np.where(first, total, 0))
    return total - base
