"""Money-laundering networks: fan-in then fan-out through a mule, pass-through, and cycles.

* ``fan_in_fan_out`` — many accounts send money to a mule within hours; soon after the last
  arrival the mule sends nearly all of it on to several other accounts (or cash).
* ``pass_through`` — an account repeatedly receives a large sum and passes on almost exactly
  that amount within hours, so its outflow/inflow ratio stays near 1.
* ``cycle`` — money goes round a ring of 3–5 accounts A→B→…→A, less a small cut per hop,
  one or more times.

Participants are EUR customers (AML cases: EUR-denominated, see ``structuring``).

>>> import numpy as np
>>> from simulator.profiles import build_world
>>> from simulator.rows import Scene
>>> scene = Scene(build_world(9, 300, 30), np.random.default_rng(9), 0, 20 * 86_400 * 10**6)
>>> ring = cycle(scene, 1).sort("occurred_us")
>>> ring["account_id"][0] == ring["counterparty_account_id"][-1]
True
"""

from __future__ import annotations

import numpy as np
import polars as pl

from simulator.cases import customers, distinct_others, elapsed_within, expand, starts
from simulator.rhythm import DAY_US, HOUR_US, US
from simulator.rows import Scene, block, choose, masked, take


def _transfers(scene: Scene, pattern: str, case_ids: np.ndarray, at: np.ndarray,
               payer: np.ndarray, payee: np.ndarray, amount: np.ndarray,
               cash: np.ndarray | None = None) -> pl.DataFrame:
    """P2P transfers payer → payee (or cash withdrawals where ``cash``), all in EUR."""
    people = scene.world.customers
    cash = np.zeros(len(at), bool) if cash is None else cash
    return block(
        scene, occurred_us=at, is_fraud=True, pattern=pattern, case_id=case_ids,
        event_type=choose(cash, "withdrawal", "p2p_transfer"),
        amount_minor=np.maximum(100, amount).astype(np.int64), currency="EUR",
        account_id=take(people.ids, payer),
        counterparty_account_id=masked(~cash, take(people.ids, payee)),
        device_id=masked(~cash, take(people.devices[:, 0], payer)),
        ip_address=masked(~cash, take(people.ip, payer)),
        card_token=masked(cash, take(people.cards[:, 0], payer)),
        country=take(people.country, payer), channel=choose(cash, "atm", "mobile_app"))


def fan_in_fan_out(scene: Scene, n_cases: int) -> pl.DataFrame:
    rng = scene.rng
    mule = customers(scene, n_cases, mules=True, currency="EUR")
    begin = starts(scene, n_cases, 2 * DAY_US)
    case_ids = scene.cases(n_cases)
    case, _ = expand(rng.integers(6, 21, n_cases))
    n = len(case)
    sender = distinct_others(scene, mule[case], 1)[:, 0]
    at = begin[case] + rng.integers(0, 12 * HOUR_US, n)
    amount = np.rint(rng.uniform(150, 1500, n)) * 100
    inflow = _transfers(scene, "fan_in_fan_out", case_ids[case], at, sender, mule[case], amount)
    received = np.bincount(case, weights=amount, minlength=n_cases)
    last = np.zeros(n_cases, dtype=np.int64)
    np.maximum.at(last, case, at)
    out_case, out_step = expand(rng.integers(3, 9, n_cases))
    m = len(out_case)
    share = rng.dirichlet(np.ones(8), n_cases)[out_case, np.minimum(out_step, 7)]
    share /= np.bincount(out_case, weights=share, minlength=n_cases)[out_case]
    sent = np.floor(received[out_case] * rng.uniform(0.92, 0.98, n_cases)[out_case] * share)
    leave = last[out_case] + rng.integers(20 * 60 * US, 4 * HOUR_US, n_cases)[out_case] \
        + elapsed_within(out_case, rng.integers(US, 15 * 60 * US, m))
    receiver = distinct_others(scene, mule[out_case], 1)[:, 0]
    outflow = _transfers(scene, "fan_in_fan_out", case_ids[out_case], leave, mule[out_case],
                         receiver, sent, cash=rng.random(m) < 0.15)
    return pl.concat([inflow, outflow], how="vertical")


def pass_through(scene: Scene, n_cases: int) -> pl.DataFrame:
    rng = scene.rng
    actor = customers(scene, n_cases, currency="EUR")
    rounds_case, round_no = expand(rng.integers(2, 6, n_cases))
    r = len(rounds_case)
    arrive = starts(scene, n_cases, 6 * DAY_US)[rounds_case] + round_no * rng.integers(
        12 * HOUR_US, 2 * DAY_US, r) + rng.integers(0, 6 * HOUR_US, r)
    amount = np.rint(rng.uniform(1_500, 8_500, r)) * 100
    payer = distinct_others(scene, actor[rounds_case], 1)[:, 0]
    case_ids = scene.cases(n_cases)[rounds_case]
    inflow = _transfers(scene, "pass_through", case_ids, arrive, payer, actor[rounds_case],
                        amount)
    cash = rng.random(r) < 0.2
    onward = distinct_others(scene, actor[rounds_case], 1)[:, 0]
    outflow = _transfers(scene, "pass_through", case_ids,
                         arrive + rng.integers(20 * 60 * US, 8 * HOUR_US, r),
                         actor[rounds_case], onward,
                         np.floor(amount * rng.uniform(0.95, 0.995, r)), cash=cash)
    return pl.concat([inflow, outflow], how="vertical")


def cycle(scene: Scene, n_cases: int) -> pl.DataFrame:
    """Rings of 3–5 accounts; 1–2 laps; each hop keeps 97–99.5 % of what it received."""
    rng = scene.rng
    ring_size = rng.integers(3, 6, n_cases)
    laps = rng.integers(1, 3, n_cases)
    origin = customers(scene, n_cases, currency="EUR")
    everyone = len(scene.world.customers)
    stride = rng.integers(1, max(2, everyone // 5), n_cases)
    members = (origin[:, None] + stride[:, None] * np.arange(5)) % everyone  # 5 distinct
    case, hop = expand(ring_size * laps)
    n = len(case)
    position = hop % ring_size[case]
    payer = members[case, position]
    payee = members[case, (position + 1) % ring_size[case]]
    kept = rng.uniform(0.97, 0.995, n)
    start_amount = np.rint(rng.uniform(2_000, 8_000, n_cases)) * 100
    amount = start_amount[case] * np.exp(_cumsum_within(case, np.log(kept)))
    at = starts(scene, n_cases, 3 * DAY_US)[case] + elapsed_within(
        case, np.where(hop == 0, 0, rng.integers(HOUR_US, 12 * HOUR_US, n)))
    return _transfers(scene, "cycle", scene.cases(n_cases)[case], at, payer, payee,
                      np.floor(amount))


def _cumsum_within(case: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running sum of ``values`` restarting at each case (including the current row)."""
    total = np.cumsum(values)
    first = np.r_[True, case[1:] != case[:-1]] if len(case) else np.zeros(0, bool)
    return total - np.repeat(total[first] - values[first], np.bincount(case)[np.unique(case)])
