"""Structuring (smurfing): cash deposited in pieces just under the reporting threshold.

Over a few days an account deposits cash several times, each deposit in the band just under the
reporting threshold (90–100 % of 10,000 EUR, see ``features.definitions.structuring_band``), then
moves the money on in transfers that are also just under the threshold. Actors are EUR
customers, so the band is the same in EUR and in the event's currency.

>>> import numpy as np
>>> from simulator.profiles import build_world
>>> from simulator.rows import Scene
>>> scene = Scene(build_world(8, 200, 30), np.random.default_rng(8), 0, 20 * 86_400 * 10**6)
>>> rows = structuring(scene, 3)
>>> in_band = rows["amount_minor"].is_between(900_000, 999_999)
>>> bool(in_band.all()), rows["currency"].unique().to_list()
(True, ['EUR'])
"""

from __future__ import annotations

import numpy as np
import polars as pl

from core.contract import structuring_band
from simulator.cases import customers, distinct_others, expand, starts
from simulator.rhythm import DAY_US, HOUR_US
from simulator.rows import Scene, block, choose, masked, take


def _in_band(rng: np.random.Generator, n: int) -> np.ndarray:
    low, high = structuring_band(2)
    return rng.integers(low // 100, high // 100, n) * 100  # whole euros, 9,000–9,999


def structuring(scene: Scene, n_cases: int) -> pl.DataFrame:
    rng, people = scene.rng, scene.world.customers
    actor = customers(scene, n_cases, currency="EUR")
    days = rng.integers(2, 7, n_cases)
    begin = starts(scene, n_cases, 7 * DAY_US)
    case_ids = scene.cases(n_cases)
    # Deposits: 4–12 over the case's days, in the actor's local business hours.
    case, _ = expand(rng.integers(4, 13, n_cases))
    n = len(case)
    day = rng.integers(0, days[case])
    at = begin[case] // DAY_US * DAY_US + day * DAY_US + rng.integers(8, 18, n) * HOUR_US \
        - (people.utc_offset[actor[case]] * HOUR_US).astype(np.int64) \
        + rng.integers(0, HOUR_US, n)
    cust = actor[case]
    deposits = block(
        scene, occurred_us=at, is_fraud=True, pattern="structuring", case_id=case_ids[case],
        event_type="top_up", amount_minor=_in_band(rng, n), currency="EUR",
        account_id=take(people.ids, cust), country=take(people.country, cust),
        channel=choose(rng.random(n) < 0.7, "branch", "atm"))
    # Moving it on: 1–4 transfers (or withdrawals) after the last deposit, also in the band.
    out_case, _ = expand(rng.integers(1, 5, n_cases))
    m = len(out_case)
    last = np.zeros(n_cases, dtype=np.int64)
    np.maximum.at(last, case, at)
    receiver = distinct_others(scene, actor, 2)[out_case, rng.integers(0, 2, m)]
    transfer = rng.random(m) < 0.75
    owner = actor[out_case]
    onward = block(
        scene, occurred_us=last[out_case] + rng.integers(HOUR_US, 2 * DAY_US, m), is_fraud=True,
        pattern="structuring", case_id=case_ids[out_case],
        event_type=choose(transfer, "p2p_transfer", "withdrawal"),
        amount_minor=_in_band(rng, m), currency="EUR", account_id=take(people.ids, owner),
        counterparty_account_id=masked(transfer, take(people.ids, receiver)),
        device_id=masked(transfer, take(people.devices[:, 0], owner)),
        ip_address=masked(transfer, take(people.ip, owner)),
        country=take(people.country, owner), channel=choose(transfer, "mobile_app", "branch"))
    return pl.concat([deposits, onward], how="vertical")
