"""Account takeover: a fraudster logs in from a new device, IP and country and empties a wallet.

At night (the victim's local time) the fraudster, after a credential/password reset, makes a
tiny probe transfer to a mule, then within minutes sends most of the wallet to the mule in a
few P2P transfers; the mule withdraws the money within hours. All the case's events are fraud.

>>> import numpy as np
>>> from simulator.profiles import build_world
>>> from simulator.rows import Scene
>>> scene = Scene(build_world(7, 200, 30), np.random.default_rng(7), 0, 5 * 86_400 * 10**6)
>>> rows = account_takeover(scene, 3)
>>> sorted(set(rows["event_type"]))
['p2p_transfer', 'withdrawal']
>>> bool(rows.filter(event_type="p2p_transfer")["device_id"].str.contains("ato").all())
True
"""

from __future__ import annotations

import numpy as np
import polars as pl

from simulator.cases import (
    customers,
    elapsed_within,
    expand,
    fraud_countries,
    fraud_devices,
    fraud_ips,
    starts,
)
from simulator.rhythm import DAY_US, US, next_local_hour
from simulator.rows import Scene, block, take


def account_takeover(scene: Scene, n_cases: int) -> pl.DataFrame:
    rng, people = scene.rng, scene.world.customers
    victim = customers(scene, n_cases)
    mule = customers(scene, n_cases, mules=True)
    mule = np.where(mule == victim, (victim + 1) % len(people), mule)
    night = next_local_hour(starts(scene, n_cases, 2 * DAY_US), people.utc_offset[victim],
                            rng.integers(0, 5, n_cases)) + rng.integers(0, 3600 * US, n_cases)
    case_ids = scene.cases(n_cases)
    # The victim's side: a probe, then 1–3 transfers draining 40–90 % of a month's income.
    case, step = expand(rng.integers(2, 5, n_cases))
    n = len(case)
    gaps = np.where(step == 0, 0, rng.integers(2 * 60 * US, 25 * 60 * US, n))
    at = night[case] + elapsed_within(case, gaps)
    n_big = np.bincount(case, minlength=n_cases) - 1
    drained = people.income_minor[victim] * rng.uniform(0.4, 0.9, n_cases)
    amount = np.where(step == 0, rng.integers(100, 500, n),
                      drained[case] / np.maximum(n_big[case], 1) * rng.uniform(0.9, 1.1, n))
    amount = np.maximum(100, np.rint(amount / 100) * 100).astype(np.int64)
    cust = victim[case]
    taken = block(
        scene, occurred_us=at, is_fraud=True, pattern="account_takeover",
        case_id=case_ids[case], event_type="p2p_transfer", amount_minor=amount,
        currency=take(people.currency, cust), account_id=take(people.ids, cust),
        counterparty_account_id=take(people.ids, mule[case]),
        device_id=fraud_devices(scene, case_ids, "ato")[case],
        ip_address=fraud_ips(scene, n_cases)[case],
        country=fraud_countries(scene, n_cases, 0.8)[case], channel="web")
    # The mule's side: cash out 90–98 % of what arrived, within two hours of the last transfer.
    received = np.bincount(case, weights=amount, minlength=n_cases)
    last = np.zeros(n_cases, dtype=np.int64)
    np.maximum.at(last, case, at)
    out_case, _ = expand(rng.integers(1, 3, n_cases))
    parts = np.bincount(out_case, minlength=n_cases)
    cash = received[out_case] * rng.uniform(0.9, 0.98, n_cases)[out_case] / parts[out_case]
    return pl.concat([taken, block(
        scene, occurred_us=last[out_case] + rng.integers(10 * 60 * US, 2 * 3600 * US,
                                                         len(out_case)),
        is_fraud=True, pattern="account_takeover", case_id=case_ids[out_case],
        event_type="withdrawal",
        amount_minor=np.maximum(1000, np.floor(cash / 1000) * 1000).astype(np.int64),
        currency=take(people.currency, victim[out_case]),
        account_id=take(people.ids, mule[out_case]),
        card_token=take(people.cards[:, 0], mule[out_case]),
        country=take(people.country, mule[out_case]), channel="atm")], how="vertical")
