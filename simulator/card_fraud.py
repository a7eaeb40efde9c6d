"""Card fraud on a stolen card: card testing and the spending burst that follows a compromise.

* ``card_testing`` — a fraudster checks stolen card details with many tiny card-not-present
  payments at different merchants within minutes, from a device, IP and country the cardholder
  never used; one session tests a few stolen cards from the same device.
* ``compromised_card`` — a burst of large purchases on a stolen card within hours, at
  high-value merchants the cardholder never used, mostly online from abroad, some card-present
  with a cloned card.

>>> import numpy as np
>>> from simulator.profiles import build_world
>>> from simulator.rows import Scene
>>> scene = Scene(build_world(5, 100, 30), np.random.default_rng(5), 0, 3 * 86_400 * 10**6)
>>> tests = card_testing(scene, 4)
>>> bool((tests["amount_minor"] < 500).all()), tests["case_id"].n_unique()
(True, 4)
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
    merchants_of,
    starts,
)
from simulator.rhythm import HOUR_US, US
from simulator.rows import Scene, block, choose, masked, take

HIGH_VALUE_MCCS = ("5732", "5944", "4511", "7011", "6051", "5999", "5311")


def card_testing(scene: Scene, n_cases: int) -> pl.DataFrame:
    rng, people, shops = scene.rng, scene.world.customers, scene.world.merchants
    victim = customers(scene, n_cases)
    case, _ = expand(rng.integers(6, 21, n_cases))
    n = len(case)
    # A tester works through a few stolen cards in one session, from one device.
    tester = np.arange(n_cases) // 3
    session = starts(scene, int(tester[-1]) + 1 if n_cases else 0, HOUR_US)[tester] \
        + rng.integers(0, 20 * 60 * US, n_cases)
    gaps = rng.exponential(45 * US, n).astype(np.int64) + 5 * US
    at = session[case] + elapsed_within(case, gaps)
    merchant = rng.integers(0, len(shops), n)
    cust = victim[case]
    return block(
        scene, occurred_us=at, is_fraud=True, pattern="card_testing",
        case_id=scene.cases(n_cases)[case],
        event_type=take(np.array(["card_authorization", "card_capture"]),
                        rng.integers(0, 2, n)),
        amount_minor=rng.integers(50, 400, n), currency=take(people.currency, cust),
        account_id=take(people.ids, cust), merchant_id=take(shops.ids, merchant),
        mcc=take(shops.mcc, merchant), card_token=take(people.cards[:, 0], cust),
        device_id=fraud_devices(scene, tester[case], "tester"),
        ip_address=fraud_ips(scene, n_cases)[case],
        country=fraud_countries(scene, n_cases)[case], channel="ecommerce")


def compromised_card(scene: Scene, n_cases: int) -> pl.DataFrame:
    rng, people, shops = scene.rng, scene.world.customers, scene.world.merchants
    victim = customers(scene, n_cases)
    case, _ = expand(rng.integers(3, 9, n_cases))
    n = len(case)
    gaps = rng.exponential(15 * 60 * US, n).astype(np.int64) + 60 * US
    at = starts(scene, n_cases, 4 * HOUR_US)[case] + elapsed_within(case, gaps)
    merchant = merchants_of(scene, n, HIGH_VALUE_MCCS)
    cust = victim[case]
    cloned = rng.random(n) < 0.2
    amount = people.spend_minor[cust] * rng.lognormal(np.log(8), 0.4, n) \
        * np.sqrt(shops.price_level[merchant])
    country = choose(cloned | (rng.random(n) < 0.4), take(shops.country, merchant),
                     take(fraud_countries(scene, n_cases), case))
    return block(
        scene, occurred_us=at, is_fraud=True, pattern="compromised_card",
        case_id=scene.cases(n_cases)[case],
        event_type=choose(rng.random(n) < 0.3, "card_authorization", "card_capture"),
        amount_minor=np.maximum(100, amount).astype(np.int64),
        currency=take(people.currency, cust), account_id=take(people.ids, cust),
        merchant_id=take(shops.ids, merchant), mcc=take(shops.mcc, merchant),
        card_token=take(people.cards[:, 0], cust),
        device_id=masked(~cloned, take(fraud_devices(scene, np.arange(n_cases), "burst"), case)),
        ip_address=masked(~cloned, take(fraud_ips(scene, n_cases), case)),
        country=country, channel=choose(cloned, "card_present", "ecommerce"))

