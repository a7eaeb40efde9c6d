"""Customer and merchant profiles: who transacts, where, how much and how often.

All profiles are numpy arrays indexed by customer or merchant number, so generators draw for
every customer at once. Identifiers carry the seed, so worlds of different seeds never share ids.

>>> world = build_world(seed=3, customers=50, merchants=20)
>>> str(world.customers.ids[0]), str(world.merchants.ids[0])
('acc-3.000000', 'mer-3.00000')
>>> bool((world.customers.devices[:, 0] != world.customers.devices[:, 1]).any())
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.geography import (
    CURRENCY_OF_COUNTRY,
    HOME_COUNTRIES,
    TRAVEL_COUNTRIES,
    UTC_OFFSET_HOURS,
    eur_factor,
)

#: MCC, price level (× a customer's typical purchase), popularity, share bought online.
MERCHANT_CATEGORIES: tuple[tuple[str, float, float, float], ...] = (
    ("5411", 0.8, 0.22, 0.10),  # grocery
    ("5812", 1.0, 0.15, 0.05),  # restaurants
    ("5814", 0.4, 0.12, 0.05),  # fast food
    ("5541", 1.5, 0.08, 0.00),  # fuel
    ("4111", 0.3, 0.08, 0.30),  # local transport
    ("5999", 1.3, 0.09, 0.50),  # miscellaneous retail
    ("5311", 1.8, 0.07, 0.40),  # department stores
    ("4814", 1.2, 0.04, 0.90),  # telecom
    ("5732", 5.0, 0.04, 0.60),  # electronics
    ("7011", 6.0, 0.03, 0.70),  # hotels
    ("4511", 9.0, 0.02, 0.90),  # airlines
    ("5944", 8.0, 0.01, 0.30),  # jewellery
    ("7995", 1.5, 0.03, 1.00),  # gambling
    ("6051", 4.0, 0.03, 1.00),  # quasi-cash, crypto
)
FAVOURITES = 8
FRIENDS = 4


@dataclass(frozen=True)
class Customers:
    ids: np.ndarray          # str
    country: np.ndarray      # str, ISO 3166
    currency: np.ndarray     # str, ISO 4217 home currency
    utc_offset: np.ndarray   # hours
    spend_minor: np.ndarray  # typical purchase, home-currency minor units
    income_minor: np.ndarray  # monthly income, home-currency minor units
    activity: np.ndarray     # expected transactions per day
    devices: np.ndarray      # (n, 2) str; the second equals the first for one-device customers
    cards: np.ndarray        # (n, 2) str card tokens
    ip: np.ndarray           # str, home IP
    favourites: np.ndarray   # (n, FAVOURITES) merchant numbers, mostly in the home country
    friends: np.ndarray      # (n, FRIENDS) customer numbers, never the customer itself
    traveller: np.ndarray    # bool: spends abroad (in the local currency, after an FX)
    mule: np.ndarray         # bool: money-mule account (little own activity)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Merchants:
    ids: np.ndarray
    mcc: np.ndarray
    country: np.ndarray
    price_level: np.ndarray
    online_share: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class World:
    seed: int
    customers: Customers
    merchants: Merchants


def _countries(rng: np.random.Generator, n: int) -> np.ndarray:
    names = np.array(list(HOME_COUNTRIES))
    weights = np.array(list(HOME_COUNTRIES.values()))
    return names[rng.choice(len(names), n, p=weights / weights.sum())]


def build_merchants(rng: np.random.Generator, seed: int, n: int) -> Merchants:
    cats = MERCHANT_CATEGORIES
    weights = np.array([c[2] for c in cats])
    cat = rng.choice(len(cats), n, p=weights / weights.sum())
    abroad = rng.random(n) < 0.2
    country = np.where(abroad, np.array(TRAVEL_COUNTRIES)[rng.integers(0, len(TRAVEL_COUNTRIES),
                                                                        n)], _countries(rng, n))
    return Merchants(
        ids=np.array([f"mer-{seed}.{j:05d}" for j in range(n)]),
        mcc=np.array([cats[k][0] for k in cat]),
        country=country,
        price_level=np.array([cats[k][1] for k in cat]) * rng.lognormal(0, 0.25, n),
        online_share=np.array([cats[k][3] for k in cat]),
    )


def _favourites(rng: np.random.Generator, country: np.ndarray, merchants: Merchants) -> np.ndarray:
    """FAVOURITES merchants per customer, drawn from its home country's merchants when any."""
    n = len(country)
    order = np.argsort(merchants.country, kind="stable")
    sorted_countries = merchants.country[order]
    lo = np.searchsorted(sorted_countries, country, side="left")
    hi = np.searchsorted(sorted_countries, country, side="right")
    count = hi - lo
    pick = lo[:, None] + (rng.random((n, FAVOURITES)) * np.maximum(count, 1)[:, None]).astype(int)
    local = order[np.minimum(pick, len(order) - 1)]
    anywhere = rng.integers(0, len(merchants), (n, FAVOURITES))
    use_local = (count > 0)[:, None] & (rng.random((n, FAVOURITES)) < 0.85)
    return np.where(use_local, local, anywhere)


def build_customers(rng: np.random.Generator, seed: int, n: int,
                    merchants: Merchants) -> Customers:
    country = _countries(rng, n)
    currency = np.array([CURRENCY_OF_COUNTRY[c] for c in country])
    to_home = eur_factor(currency)
    mule = rng.random(n) < 0.01
    mule[rng.choice(n, min(n, 2), replace=False)] = True  # every world has a few mules
    two_devices = rng.random(n) < 0.45
    first = np.array([f"dev-{seed}.{i:06d}.0" for i in range(n)])
    second = np.where(two_devices, np.char.replace(first, ".0", ".1"), first)
    two_cards = rng.random(n) < 0.3
    card = np.array([f"ctok-{seed}.{i:06d}.0" for i in range(n)])
    friends = (np.arange(n)[:, None] + rng.integers(1, max(n, 2), (n, FRIENDS))) % max(n, 1)
    return Customers(
        ids=np.array([f"acc-{seed}.{i:06d}" for i in range(n)]),
        country=country,
        currency=currency,
        utc_offset=np.array([UTC_OFFSET_HOURS[c] for c in country]),
        spend_minor=3_000 * to_home * rng.lognormal(0, 0.5, n),
        income_minor=280_000 * to_home * rng.lognormal(0, 0.4, n),
        activity=np.where(mule, 0.3, 2.2) * rng.lognormal(-0.1, 0.45, n),
        devices=np.stack([first, second], axis=1),
        cards=np.stack([card, np.where(two_cards, np.char.replace(card, ".0", ".1"), card)], 1),
        ip=np.array([f"10.{i // 250 % 250}.{i % 250}.{k}" for i, k in
                     enumerate(rng.integers(1, 250, n))]),
        favourites=_favourites(rng, country, merchants),
        friends=friends,
        traveller=rng.random(n) < 0.1,
        mule=mule,
    )


def build_world(seed: int, customers: int, merchants: int) -> World:
    rng = np.random.default_rng([seed, 0x5EED])
    shops = build_merchants(rng, seed, max(1, merchants))
    return World(seed, build_customers(rng, seed, max(2, customers), shops), shops)
