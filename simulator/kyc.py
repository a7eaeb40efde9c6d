"""KYC profiles for the simulated world's customers: one ``customer`` event per account.

Names are drawn deterministically (seeded) from small first/last name pools; a few customers
carry a name of the shipped synthetic sanctions/PEP list (``screening/samples``), some spelled
differently or in Cyrillic, so screening has something to find; mule accounts declare little
income. Everything else comes from the world (country, home currency, monthly income).

>>> from simulator.profiles import build_world
>>> events = customer_events(build_world(seed=3, customers=40, merchants=5))
>>> len(events), events[0].event_id, events[0].version
(40, 'kyc-acc-3.000000-1', 1)
>>> sum(e.name in LISTED_NAMES for e in events) >= 1
True
>>> customer_events(build_world(seed=3, customers=40, merchants=5)) == events
True
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np

from core.contract import CustomerEvent
from simulator.profiles import World

FIRST = ("Ana", "Ben", "Chloé", "Dmitri", "Eva", "Farid", "Grace", "Hugo", "Ines", "Jonas",
         "Kasia", "Luca", "Maya", "Nils", "Olga", "Pedro", "Rosa", "Sven", "Tara", "Yusuf")
LAST = ("Almeida", "Becker", "Costa", "Dubois", "Evans", "Fischer", "García", "Hansen",
        "Ivanova", "Jensen", "Kowalski", "Lopes", "Moreau", "Novak", "Olsen", "Petit",
        "Rossi", "Schmidt", "Taylor", "Weber")
OCCUPATIONS = ("nurse", "engineer", "teacher", "student", "driver", "retired", "designer",
               "shop owner", "consultant", "electrician")
#: Names (and variants) of the synthetic list's entries: sanctioned (s) or PEPs (p).
LISTED_NAMES = ("Mohamed Karim Hadad", "Иван Сергеевич Петров", "Kim Chol Su",
                "Elena Vasquez", "Jurgen Konig", "Adebayo Okafor")
ONBOARDED = date(2025, 1, 1)


def customer_events(world: World, listed_share: float = 0.02, pep_share: float = 0.01,
                    version: int = 1) -> list[CustomerEvent]:
    """One onboarding profile per customer of ``world``, the same for the same seed."""
    people = world.customers
    rng = np.random.default_rng([world.seed, 20_261_130])
    n = len(people)
    first = rng.integers(len(FIRST), size=n)
    last = rng.integers(len(LAST), size=n)
    job = rng.integers(len(OCCUPATIONS), size=n)
    listed = rng.random(n) < listed_share
    listed[rng.integers(n)] = True  # at least one, so a small world has a hit too
    pep = rng.random(n) < pep_share
    days = rng.integers(0, 365, size=n)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    events = []
    for i in range(n):
        name = (LISTED_NAMES[i % len(LISTED_NAMES)] if listed[i]
                else f"{FIRST[first[i]]} {LAST[last[i]]}")
        yearly = None if people.mule[i] else int(people.income_minor[i]) * 12
        events.append(CustomerEvent(
            event_id=f"kyc-{people.ids[i]}-{version}", account_id=str(people.ids[i]),
            version=version, occurred_at=at, customer_type="individual", name=name,
            country=str(people.country[i]), pep=bool(pep[i]),
            declared_income_minor=yearly or None,
            declared_income_currency=str(people.currency[i]) if yearly else None,
            occupation=OCCUPATIONS[job[i]],
            onboarded_on=date.fromordinal(ONBOARDED.toordinal() + int(days[i]))))
    return events
