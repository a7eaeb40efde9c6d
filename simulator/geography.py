"""Countries, currencies and reference FX rates the simulated world lives in.

Home currencies are chosen so the structuring band (90–100 % of 10,000 major units of the event's
currency, see ``features.definitions.structuring_band``) stays a large amount in every one of them.

>>> CURRENCY_OF_COUNTRY["PL"], to_minor_of(1_000, "EUR", "GBP")
('PLN', 855)
>>> round(UTC_OFFSET_HOURS["US"])
-5
"""

from __future__ import annotations

import numpy as np

#: Where customers live, with their share of the customer base.
HOME_COUNTRIES: dict[str, float] = {
    "DE": 0.30, "FR": 0.14, "NL": 0.08, "ES": 0.09, "IT": 0.09, "GB": 0.11, "US": 0.06,
    "PL": 0.06, "CH": 0.04, "AT": 0.03,
}
#: Countries a customer travels to or buys from abroad (besides the home countries).
TRAVEL_COUNTRIES = ("PT", "GR", "TR", "US", "GB", "ES", "IT", "CH")
#: Where fraudsters and mules operate from.
HIGH_RISK_COUNTRIES = ("NG", "RU", "VN", "UA", "RO")

CURRENCY_OF_COUNTRY: dict[str, str] = {
    **dict.fromkeys(("DE", "FR", "NL", "ES", "IT", "AT", "PT", "GR"), "EUR"),
    "GB": "GBP", "US": "USD", "PL": "PLN", "CH": "CHF", "TR": "EUR",
    "NG": "USD", "RU": "USD", "VN": "USD", "UA": "USD", "RO": "EUR",
}
#: Standard-time offsets (daily rhythms are in local time; DST is ignored).
UTC_OFFSET_HOURS: dict[str, float] = {
    **dict.fromkeys(("DE", "FR", "NL", "ES", "IT", "AT", "CH", "PL"), 1.0),
    "GB": 0.0, "PT": 0.0, "US": -5.0, "GR": 2.0, "TR": 3.0, "NG": 1.0, "RU": 3.0, "VN": 7.0,
    "UA": 2.0, "RO": 2.0,
}
#: EUR per major unit of each currency (a fixed reference; the ledger keeps its own rates).
EUR_PER_UNIT: dict[str, float] = {
    "EUR": 1.0, "USD": 0.92, "GBP": 1.17, "CHF": 1.05, "PLN": 0.23,
}


def to_minor_of(amount_minor: int, currency: str, target: str) -> int:
    """Convert minor units between the world's currencies (all have two decimals)."""
    return round(amount_minor * EUR_PER_UNIT[currency] / EUR_PER_UNIT[target])


def eur_factor(currencies: np.ndarray) -> np.ndarray:
    """Per-row factor turning an EUR-denominated amount into each row's currency."""
    codes, inverse = np.unique(currencies, return_inverse=True)
    return np.array([1.0 / EUR_PER_UNIT[str(c)] for c in codes], dtype=float)[inverse]
