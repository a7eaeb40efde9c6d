"""Tazama-style typology scores: weighted indicators, one score per (account, typology).

A detector does not answer yes/no. For the account it looks at, it measures a few
**indicators** (each in [0, 1], with a weight and a reason in plain words); the typology's score
is their weighted mean, and the typology alerts when the score reaches its threshold and the
detector's gate (the pattern's defining condition) holds. The reasons of the indicators that
contributed become the alert's reason codes.

>>> f = Finding("structuring", "acc-1", "tx-9", (
...     Indicator(1.0, 0.6, "5 deposits just under the reporting threshold in 7 days"),
...     Indicator(0.5, 0.4, "spread over 2 days")), ("tx-1", "tx-9"), ())
>>> f.score
0.8
>>> f.reasons
['5 deposits just under the reporting threshold in 7 days', 'spread over 2 days']
"""

from __future__ import annotations

from dataclasses import dataclass

#: Evidence kept per alert: the most recent transactions and counterparties, at most this many.
MAX_EVIDENCE = 50


@dataclass(frozen=True)
class Indicator:
    value: float  # in [0, 1]
    weight: float
    reason: str


@dataclass(frozen=True)
class Finding:
    """A typology seen on ``account_id``, triggered by ``transaction_id``."""

    typology: str
    account_id: str
    transaction_id: str
    indicators: tuple[Indicator, ...]
    transactions: tuple[str, ...]  # the evidence
    counterparties: tuple[str, ...]

    @property
    def score(self) -> float:
        total = sum(i.weight for i in self.indicators)
        mean = sum(min(1.0, max(0.0, i.value)) * i.weight for i in self.indicators) / total
        return round(mean, 4)

    @property
    def reasons(self) -> list[str]:
        ranked = sorted(self.indicators, key=lambda i: -i.value * i.weight)
        return [i.reason for i in ranked if i.value > 0]

    def evidence(self) -> dict[str, list[str]]:
        return {"transactions": list(dict.fromkeys(self.transactions))[-MAX_EVIDENCE:],
                "counterparties": sorted(set(self.counterparties))[:MAX_EVIDENCE]}


def ramp(x: float, low: float, high: float) -> float:
    """0 at ``low``, 1 at ``high``, linear between (either direction).

    >>> ramp(5, 0, 10), ramp(20, 0, 10), ramp(2, 10, 0)
    (0.5, 1.0, 0.8)
    """
    if high == low:
        return 1.0 if x >= high else 0.0
    return min(1.0, max(0.0, (x - low) / (high - low)))
