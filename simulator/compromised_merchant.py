"""A compromised merchant terminal: skimmed cards are abused at the merchant and elsewhere.

Customers pay (legitimately) at a terminal that skims their cards. Afterwards the merchant
runs unauthorised card-not-present charges on those cards, and cloned cards are cashed out at
ATMs and shops abroad within days. The genuine visits stay legitimate; the extra charges give
the merchant a fraud rate that ``merchant_fraud_rate_30d_delay7d`` sees once labels arrive.

>>> import numpy as np
>>> from simulator.profiles import build_world
>>> from simulator.rows import Scene
>>> scene = Scene(build_world(6, 200, 30), np.random.default_rng(6), 0, 20 * 86_400 * 10**6)
>>> rows = compromised_merchant(scene, 2)
>>> visits = rows.filter(~pl.col("is_fraud"))
>>> visits["merchant_id"].n_unique(), bool(visits["pattern"].is_null().all())
(2, True)
"""

from __future__ import annotations

import numpy as np
import polars as pl

from simulator.cases import customers, expand, fraud_countries, merchants_of, starts
from simulator.rhythm import DAY_US, HOUR_US
from simulator.rows import Scene, block, choose, masked, take

SKIMMED_MCCS = ("5541", "5812", "5411", "5999")


def compromised_merchant(scene: Scene, n_cases: int) -> pl.DataFrame:
    rng, people, shops = scene.rng, scene.world.customers, scene.world.merchants
    terminal = merchants_of(scene, n_cases, SKIMMED_MCCS)
    case_of_visit, _ = expand(rng.integers(5, 16, n_cases))
    v = len(case_of_visit)
    cust = customers(scene, v)
    case_ids = scene.cases(n_cases)
    visit_at = starts(scene, n_cases, 7 * DAY_US)[case_of_visit] \
        + rng.integers(0, 3 * DAY_US, v)
    card = take(people.cards[:, 0], cust)
    visits = block(
        scene, occurred_us=visit_at, case_id=case_ids[case_of_visit],
        event_type="card_capture",
        amount_minor=(people.spend_minor[cust] * shops.price_level[terminal[case_of_visit]]
                      * rng.lognormal(0, 0.4, v)).astype(np.int64) + 1,
        currency=take(people.currency, cust), account_id=take(people.ids, cust),
        merchant_id=take(shops.ids, terminal[case_of_visit]),
        mcc=take(shops.mcc, terminal[case_of_visit]), card_token=card,
        country=take(shops.country, terminal[case_of_visit]), channel="card_present")

    # Abuse per skimmed card: an extra charge at the terminal (70%), then 1–3 cash-outs.
    extra = rng.random(v) < 0.7
    visit_of_abuse, step = expand(extra + rng.integers(1, 4, v))
    a = len(visit_of_abuse)
    at_terminal = extra[visit_of_abuse] & (step == 0)
    delay = np.where(at_terminal, rng.integers(HOUR_US, 2 * DAY_US, a),
                     rng.integers(DAY_US, 7 * DAY_US, a) + step * rng.integers(0, HOUR_US, a))
    owner = cust[visit_of_abuse]
    cash_out = ~at_terminal & (rng.random(a) < 0.6)
    elsewhere = merchants_of(scene, a, ("5732", "5944", "5311", "4511"))
    shop = np.where(at_terminal, terminal[case_of_visit[visit_of_abuse]], elsewhere)
    amount = people.spend_minor[owner] * np.where(at_terminal, rng.uniform(1, 3, a),
                                                  rng.uniform(4, 12, a))
    abuse = block(
        scene, occurred_us=visit_at[visit_of_abuse] + delay, is_fraud=True,
        pattern="compromised_merchant", case_id=case_ids[case_of_visit[visit_of_abuse]],
        event_type=choose(cash_out, "withdrawal", "card_capture"),
        amount_minor=np.where(cash_out, np.rint(amount / 1000) * 1000 + 1000, amount)
        .astype(np.int64),
        currency=take(people.currency, owner), account_id=take(people.ids, owner),
        merchant_id=masked(~cash_out, take(shops.ids, shop)),
        mcc=masked(~cash_out, take(shops.mcc, shop)), card_token=card.gather(visit_of_abuse),
        country=choose(at_terminal, take(shops.country, shop), fraud_countries(scene, a, 0.5)),
        channel=choose(at_terminal, "ecommerce", choose(cash_out, "atm", "card_present")))
    return pl.concat([visits, abuse], how="vertical")
