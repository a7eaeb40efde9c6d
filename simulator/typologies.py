"""The typology catalogue: every fraud and AML pattern, its family and how many cases to draw.

>>> [t.pattern for t in TYPOLOGIES if t.family == "aml"]
['structuring', 'fan_in_fan_out', 'pass_through', 'cycle']
>>> sorted(PATTERNS) == sorted(FRAUD_PATTERNS + AML_PATTERNS)
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from simulator.account_takeover import account_takeover
from simulator.card_fraud import card_testing, compromised_card
from simulator.compromised_merchant import compromised_merchant
from simulator.networks import cycle, fan_in_fan_out, pass_through
from simulator.rows import Scene
from simulator.structuring import structuring

Family = Literal["fraud", "aml"]


@dataclass(frozen=True)
class Typology:
    pattern: str
    family: Family
    generate: Callable[[Scene, int], pl.DataFrame]
    #: Mean suspicious events per case (to turn an event rate into a number of cases).
    events_per_case: float
    #: Share of the family's suspicious events this typology contributes.
    weight: float


TYPOLOGIES: tuple[Typology, ...] = (
    Typology("card_testing", "fraud", card_testing, 13.0, 0.25),
    Typology("compromised_card", "fraud", compromised_card, 5.5, 0.30),
    Typology("compromised_merchant", "fraud", compromised_merchant, 28.0, 0.20),
    Typology("account_takeover", "fraud", account_takeover, 5.0, 0.25),
    Typology("structuring", "aml", structuring, 10.5, 0.25),
    Typology("fan_in_fan_out", "aml", fan_in_fan_out, 18.5, 0.25),
    Typology("pass_through", "aml", pass_through, 7.0, 0.25),
    Typology("cycle", "aml", cycle, 6.0, 0.25),
)
PATTERNS: dict[str, Typology] = {t.pattern: t for t in TYPOLOGIES}
FRAUD_PATTERNS: tuple[str, ...] = tuple(t.pattern for t in TYPOLOGIES if t.family == "fraud")
AML_PATTERNS: tuple[str, ...] = tuple(t.pattern for t in TYPOLOGIES if t.family == "aml")


def case_counts(rng: np.random.Generator, legit_events: int, fraud_rate: float,
                aml_rate: float, at_least_one: bool) -> dict[str, int]:
    """Cases per typology so suspicious events are about ``rate`` of all events per family.

    ``at_least_one``: every typology of a family whose rate is positive gets a case (histories);
    otherwise counts are Poisson draws (short live windows then mostly have none).
    """
    out: dict[str, int] = {}
    for t in TYPOLOGIES:
        rate = fraud_rate if t.family == "fraud" else aml_rate
        share = rate / max(1e-9, 1.0 - fraud_rate - aml_rate)
        expected = legit_events * share * t.weight / t.events_per_case
        if at_least_one:
            out[t.pattern] = max(1, round(expected)) if rate > 0 else 0
        else:
            out[t.pattern] = int(rng.poisson(expected))
    return out


def typology_rows(scene: Scene, counts: dict[str, int]) -> list[pl.DataFrame]:
    """The rows of every typology's cases (in catalogue order, for determinism)."""
    small_world = len(scene.world.customers) < 6
    return [t.generate(scene, counts[t.pattern]) for t in TYPOLOGIES
            if counts.get(t.pattern, 0) > 0 and not small_world]
