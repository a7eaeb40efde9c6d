"""Legitimate activity: each customer's own payments, transfers, top-ups, cash and FX.

Every customer transacts at its own rate, following the daily rhythm of its home time zone,
mostly at its favourite (home-country) merchants, with amounts around its own typical purchase
scaled by the merchant's price level. Travellers also spend abroad in the local currency and
convert money beforehand. Follow-ups (captures, voids, refunds) are in ``followups``.

>>> import numpy as np
>>> from simulator.profiles import build_world
>>> from simulator.rows import Scene
>>> scene = Scene(build_world(2, 200, 40), np.random.default_rng(2), 0, 7 * 86_400 * 10**6)
>>> rows = legit_activity(scene)
>>> sorted(set(rows["event_type"])) == sorted(set(KIND_EVENT_TYPES))
True
>>> bool(rows["pattern"].is_null().all()), bool((rows["amount_minor"] > 0).all())
(True, True)
"""

from __future__ import annotations

import numpy as np
import polars as pl

from core.contract import structuring_band
from simulator.geography import CURRENCY_OF_COUNTRY, EUR_PER_UNIT, TRAVEL_COUNTRIES
from simulator.rhythm import expected_days, sample_times
from simulator.rows import Scene, block, choose, masked, take

#: Activity mix (share of a customer's own events); a card purchase abroad is for travellers.
KINDS = ("card", "app_payment", "p2p", "top_up", "withdrawal", "fx", "card_abroad")
KIND_SHARES = np.array([0.46, 0.18, 0.11, 0.10, 0.07, 0.03, 0.05])
KIND_EVENT_TYPES = ("card_capture", "merchant_payment", "p2p_transfer", "top_up", "withdrawal",
                    "fx_conversion", "card_capture")
CARD, APP, P2P, TOP_UP, CASH, FX, ABROAD = range(len(KINDS))
_CASH_NOTES_MAJOR = np.array([20, 50, 50, 100, 100, 150, 200, 300])


def _round_to(amount: np.ndarray, unit: int) -> np.ndarray:
    return np.maximum(unit, np.rint(amount / unit).astype(np.int64) * unit)


def _out_of_band(amount: np.ndarray) -> np.ndarray:
    """Keep legitimate amounts out of the structuring band (that is the AML typologies' mark)."""
    low, high = structuring_band(2)
    return np.where((amount >= low) & (amount < high), (amount * 0.8).astype(np.int64), amount)


def _trips(customers_home: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per customer: the country it travels to, that country's currency, home→trip rate, and
    euros per unit of the home currency. Kept per world: a live window asks again every few
    seconds, and these loops over every customer cost more than the window's events."""
    key = id(customers_home)
    cached = _TRIPS.get(key)
    if cached is not None and cached[0] is customers_home:
        return cached[1]
    n = len(customers_home)
    trip = np.array(TRAVEL_COUNTRIES)[np.arange(n) % len(TRAVEL_COUNTRIES)]
    trip_ccy = np.array([CURRENCY_OF_COUNTRY[c] for c in trip])
    eur_per_home = np.array([EUR_PER_UNIT[c] for c in customers_home])
    rate = eur_per_home / np.array([EUR_PER_UNIT[t] for t in trip_ccy])
    if len(_TRIPS) >= 4:
        _TRIPS.clear()
    _TRIPS[key] = (customers_home, (trip, trip_ccy, rate, eur_per_home))
    return trip, trip_ccy, rate, eur_per_home


_TRIPS: dict[int, tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = {}


def legit_activity(scene: Scene, scale: float = 1.0) -> pl.DataFrame:
    """Primary legitimate events of every customer over the scene's window."""
    people, shops, rng = scene.world.customers, scene.world.merchants, scene.rng
    expected = people.activity * expected_days(scene.start_us, scene.end_us,
                                               people.utc_offset) * scale
    cust = np.repeat(np.arange(len(people)), rng.poisson(expected))
    n = len(cust)
    kind = rng.choice(len(KINDS), n, p=KIND_SHARES / KIND_SHARES.sum())
    kind = np.where((kind == ABROAD) & ~people.traveller[cust], CARD, kind)
    abroad = kind == ABROAD
    at = sample_times(rng, people.utc_offset[cust], scene.start_us, scene.end_us)

    trip, trip_ccy, trip_rate, eur_per_home = _trips(people.currency)
    favourite = people.favourites[cust, rng.integers(0, people.favourites.shape[1], n)]
    merchant = np.where(rng.random(n) < 0.8, favourite, rng.integers(0, len(shops), n))
    rate = np.where(abroad, trip_rate[cust], 1.0)
    spend = people.spend_minor[cust] * rate * rng.lognormal(0, 0.6, n)
    has_merchant = np.isin(kind, [CARD, APP, ABROAD])
    is_card = (kind == CARD) | abroad
    amount = np.where(has_merchant, spend * shops.price_level[merchant], spend)
    amount = np.where(kind == P2P, _round_to(spend * rng.lognormal(0.4, 0.7, n), 500), amount)
    income = people.income_minor[cust]
    big = rng.random(n) < 0.08  # rent, salary, savings: the large legitimate movements
    amount = np.where(kind == TOP_UP, _round_to(income * np.where(
        big, rng.uniform(0.8, 3.0, n), rng.uniform(0.1, 0.5, n)), 1000), amount)
    amount = np.where((kind == P2P) & big, _round_to(income * rng.uniform(0.3, 2.5, n), 1000),
                      amount)
    cash = _CASH_NOTES_MAJOR[rng.integers(0, len(_CASH_NOTES_MAJOR), n)] * 100
    amount = np.where(kind == CASH, _round_to(cash / eur_per_home[cust], 1000), amount)
    amount = np.where(kind == FX, _round_to(spend * rng.lognormal(1.8, 0.5, n), 1000), amount)
    amount = _out_of_band(np.maximum(50, amount).astype(np.int64))

    is_fx = kind == FX
    usd_home = take(people.currency, cust) == "USD"
    fx_target = choose(trip_ccy[cust] != people.currency[cust], take(trip_ccy, cust),
                       choose(usd_home.to_numpy(), "EUR", "USD"))
    target_codes, target_index = np.unique(fx_target.to_numpy(), return_inverse=True)
    fx_rate = eur_per_home[cust] / np.array([EUR_PER_UNIT[c] for c in target_codes])[
        target_index]
    online = rng.random(n) < shops.online_share[merchant]
    channel_codes = np.select(
        [kind == CARD, abroad, kind == APP, kind == TOP_UP, kind == CASH],
        [np.where(online, 0, 1), 1, np.where(rng.random(n) < 0.7, 2, 3),
         np.where(rng.random(n) < 0.8, 4, 5), 6], 2)
    channels = np.array(["ecommerce", "card_present", "mobile_app", "web", "api", "branch",
                         "atm"])
    remote = np.isin(channel_codes, [0, 2, 3])
    travel_cash = (kind == CASH) & people.traveller[cust] & (rng.random(n) < 0.3)
    country = choose(has_merchant, take(shops.country, merchant), take(people.country, cust))
    country = choose(abroad | travel_cash, take(trip, cust), country)
    return block(
        scene, occurred_us=at, event_type=take(np.array(KIND_EVENT_TYPES), kind),
        amount_minor=amount, currency=choose(abroad, take(trip_ccy, cust),
                                             take(people.currency, cust)),
        account_id=take(people.ids, cust),
        counterparty_account_id=masked(kind == P2P, take(
            people.ids, people.friends[cust, rng.integers(0, people.friends.shape[1], n)])),
        merchant_id=masked(has_merchant, take(shops.ids, merchant)),
        mcc=masked(has_merchant, take(shops.mcc, merchant)),
        card_token=masked(is_card | (kind == CASH),
                          take(people.cards.ravel(), cust * 2 + rng.integers(0, 2, n))),
        device_id=masked(remote, take(people.devices.ravel(), cust * 2 + rng.integers(0, 2, n))),
        ip_address=masked(remote, take(people.ip, cust)),
        country=country, channel=take(channels, channel_codes),
        target_currency=masked(is_fx, fx_target),
        target_amount_minor=masked(is_fx, np.rint(amount * fx_rate * 0.985).astype(np.int64)),
        fee_minor=masked(is_fx | ((kind == CASH) & (rng.random(n) < 0.25)),
                         np.where(is_fx, np.maximum(1, amount // 200), 250)),
    )
