"""What the typology detectors look for: thresholds and windows, one frozen object.

Amounts are per currency: every minimum is a share of the currency's **reporting threshold**
(the amount at or above which a cash transaction must be reported), so one setting,
``aml_reporting_thresholds`` (``"CUR:major,…"``, ``*`` for every other currency), scales every
detector to every currency. Built from :class:`core.settings.Settings` at the edge.

>>> cfg = DetectorConfig(thresholds_major={"*": 10_000, "JPY": 1_000_000})
>>> cfg.threshold_minor("EUR"), cfg.threshold_minor("JPY"), cfg.band("EUR")
(1000000, 1000000, (900000, 1000000))
>>> parse_thresholds("*:10000, GBP:8000")
{'*': 10000, 'GBP': 8000}
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.contract import MINOR_UNITS
from core.settings import Settings

DAY_US = 86_400 * 1_000_000
HOUR_US = 3_600 * 1_000_000
#: FATF's "call for action" list plus jurisdictions under comprehensive sanctions: a default
#: only; compliance sets its own list with ``aml_high_risk_countries``.
DEFAULT_HIGH_RISK = "AF,BY,IR,KP,MM,RU,SY,YE"


def parse_thresholds(text: str) -> dict[str, int]:
    """``"*:10000,GBP:8000"`` → ``{"*": 10000, "GBP": 8000}``; errors name the bad part."""
    out: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        code, sep, value = part.partition(":")
        code = code.strip().upper()
        if not sep or not value.strip().isdigit() or int(value) <= 0:
            raise ValueError(f"aml_reporting_thresholds: {part!r} is not CUR:positive-integer")
        if code != "*" and code not in MINOR_UNITS:
            raise ValueError(f"aml_reporting_thresholds: {code!r} is not an ISO 4217 currency")
        out[code] = int(value)
    if "*" not in out:
        out["*"] = 10_000
    return out


def parse_countries(text: str) -> frozenset[str]:
    countries = frozenset(c.strip().upper() for c in text.split(",") if c.strip())
    bad = sorted(c for c in countries if len(c) != 2 or not c.isalpha())
    if bad:
        raise ValueError(f"aml_high_risk_countries: {bad} are not ISO 3166-1 alpha-2 codes")
    return countries


@dataclass(frozen=True)
class DetectorConfig:
    thresholds_major: dict[str, int] = field(default_factory=lambda: {"*": 10_000})
    #: Structuring: the band is [fraction × threshold, threshold); this many in the window.
    structuring_fraction: float = 0.9
    structuring_min_count: int = 3
    structuring_window_days: int = 7
    #: Fan-in/fan-out: distinct senders within the window, then most of it sent on.
    fan_window_hours: int = 24
    fan_min_senders: int = 5
    fan_min_receivers: int = 2
    fan_min_out_ratio: float = 0.6
    #: Pass-through: inflow of at least this share of the threshold passed on within the window.
    pass_window_hours: int = 24
    pass_min_share: float = 0.1
    pass_ratio_range: tuple[float, float] = (0.85, 1.05)
    #: Cycles: rings of up to ``cycle_max_hops`` accounts within ``cycle_days``; every hop
    #: keeps a share of what it got in ``cycle_keep_range``.
    cycle_days: int = 7
    cycle_max_hops: int = 6
    cycle_min_share: float = 0.1
    cycle_keep_range: tuple[float, float] = (0.8, 1.02)
    #: Dormant: no activity for this long, then a money movement of at least this share.
    dormant_days: int = 90
    dormant_min_share: float = 0.05
    #: High-risk corridors: money to or from these countries, at least this share.
    high_risk_countries: frozenset[str] = field(
        default_factory=lambda: parse_countries(DEFAULT_HIGH_RISK))
    corridor_min_share: float = 0.1
    corridor_window_days: int = 7
    #: Every typology alerts at a combined score of at least this (Tazama's alert threshold).
    alert_threshold: float = 0.5
    #: Bounds of the detectors' memory: flows kept per account.
    max_flows_per_account: int = 400

    @classmethod
    def from_settings(cls, settings: Settings) -> DetectorConfig:
        return cls(thresholds_major=parse_thresholds(settings.aml_reporting_thresholds),
                   high_risk_countries=parse_countries(settings.aml_high_risk_countries),
                   cycle_days=settings.aml_cycle_days, dormant_days=settings.aml_dormant_days)

    def threshold_minor(self, currency: str) -> int:
        major = self.thresholds_major.get(currency, self.thresholds_major["*"])
        return int(major * 10 ** MINOR_UNITS.get(currency, 2))

    def band(self, currency: str) -> tuple[int, int]:
        """[low, high) in minor units: just under the currency's reporting threshold."""
        high = self.threshold_minor(currency)
        return int(high * self.structuring_fraction), high

    def share(self, currency: str, fraction: float) -> int:
        return int(self.threshold_minor(currency) * fraction)

    @property
    def horizon_us(self) -> int:
        """How far back any detector looks: what the state keeps."""
        return max(self.structuring_window_days, self.cycle_days, self.corridor_window_days,
                   1 + max(self.fan_window_hours, self.pass_window_hours) // 24) * DAY_US
