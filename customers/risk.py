"""Customer risk rating: a 0–100 score, a band (low/medium/high) and the reasons behind it.

Rules over the KYC profile (country, PEP, customer type and line of business, declared
income) and, once the account transacts, over its features (observed volume against the
declared income, the AML network features). Each rule adds points and names itself in the
reasons; the score is capped at 100. Deterministic and pure: the stream re-rates a customer
when a profile arrives and when a transaction brings new feature values.

>>> p = Profile("acc-1", "individual", "IR", pep=True, income_minor=3_000_000,
...             income_currency="EUR", occupation="minister", business=None)
>>> r = rate(p)
>>> r.band, r.score, r.reasons
('high', 65, ('country_high_risk:IR', 'pep'))
>>> rate(Profile("acc-2", "individual", "DE", False, 5_000_000, "EUR", "teacher", None)).band
'low'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: FATF "call for action" jurisdictions (March 2026 sample) and others under sanctions.
HIGH_RISK_COUNTRIES = frozenset({"KP", "IR", "MM", "RU", "SY", "BY", "CU", "VE"})
#: A sample of FATF "increased monitoring" jurisdictions.
MEDIUM_RISK_COUNTRIES = frozenset({"NG", "ZA", "VN", "TR", "AE", "PH", "KE", "HT", "YE"})
#: Lines of business with a high money-laundering exposure (matched as words, lower case).
HIGH_RISK_BUSINESS = ("money service", "remittance", "crypto", "exchange", "casino",
                      "gambling", "betting", "precious metal", "jewel", "arms", "pawn",
                      "used car", "cash")

HIGH, MEDIUM = 60, 30  # score thresholds of the bands


@dataclass(frozen=True)
class Profile:
    """What the rating reads from a customer profile (``customers.store`` builds it)."""

    account_id: str
    customer_type: str  # individual | business
    country: str
    pep: bool
    income_minor: int | None
    income_currency: str | None
    occupation: str | None
    business: str | None


@dataclass(frozen=True)
class Rating:
    band: str
    score: int
    reasons: tuple[str, ...]


def band_of(score: int) -> str:
    """The band of a score.

    >>> band_of(59), band_of(60), band_of(29)
    ('medium', 'high', 'low')
    """
    return "high" if score >= HIGH else "medium" if score >= MEDIUM else "low"


def _profile_points(p: Profile) -> list[tuple[str, int]]:
    points: list[tuple[str, int]] = []
    if p.country in HIGH_RISK_COUNTRIES:
        points.append((f"country_high_risk:{p.country}", 35))
    elif p.country in MEDIUM_RISK_COUNTRIES:
        points.append((f"country_medium_risk:{p.country}", 15))
    if p.pep:
        points.append(("pep", 30))
    if p.customer_type == "business":
        line = (p.business or "").lower()
        risky = next((word for word in HIGH_RISK_BUSINESS if word in line), None)
        points.append((f"business_high_risk:{risky}", 25) if risky else ("business", 5))
    if p.income_minor is None:
        points.append(("income_undeclared", 10))
    return points


def _feature_points(p: Profile, features: Mapping[str, float],
                    currency: str | None) -> list[tuple[str, int]]:
    points: list[tuple[str, int]] = []
    # acct_sum_30d is in the event's currency: comparable only in the declared currency.
    volume = features.get("acct_sum_30d")
    if volume and p.income_minor and currency == p.income_currency:
        ratio = 12 * volume / p.income_minor  # a month's volume, annualised
        if ratio >= 3:
            points.append((f"volume_vs_income:{ratio:.1f}x", 25))
        elif ratio >= 1.5:
            points.append((f"volume_vs_income:{ratio:.1f}x", 10))
    if features.get("acct_pass_through_24h", 0.0) >= 0.8:
        points.append(("pass_through_24h", 15))
    if features.get("acct_structuring_count_7d", 0.0) >= 3:
        points.append(("structuring_7d", 15))
    if max(features.get("acct_distinct_cp_in_7d", 0.0),
           features.get("acct_distinct_cp_out_7d", 0.0)) >= 10:
        points.append(("many_counterparties_7d", 10))
    return points


def rate(profile: Profile, features: Mapping[str, float] | None = None,
         currency: str | None = None) -> Rating:
    """Rate a profile, with the account's latest feature values (in ``currency``) if known.

    >>> p = Profile("acc-3", "business", "DE", False, 12_000_000, "EUR", None,
    ...             "Crypto exchange")
    >>> rate(p).reasons
    ('business_high_risk:crypto',)
    >>> r = rate(p, {"acct_sum_30d": 4_000_000, "acct_pass_through_24h": 0.95}, "EUR")
    >>> r.band, r.score, r.reasons
    ('high', 65, ('business_high_risk:crypto', 'volume_vs_income:4.0x', 'pass_through_24h'))
    """
    points = _profile_points(profile)
    if features:
        points += _feature_points(profile, features, currency)
    score = min(100, sum(p for _, p in points))
    return Rating(band_of(score), score, tuple(reason for reason, _ in points))
