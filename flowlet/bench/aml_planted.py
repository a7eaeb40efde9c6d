"""Cases of the typologies the simulator does not play, planted into a simulated history.

The simulator plays structuring, fan-in/fan-out, pass-through and cycles; dormant-account
reactivation and high-risk corridors are planted here, so their recall is measured too (on
patterns written for the purpose: a check that the detectors find what they are meant to, not
an estimate on realistic traffic):

* ``dormant`` — an account last active 100–300 days before the history starts receives a
  deposit of 2,000–9,000 EUR and sends most of it on within hours;
* ``high_risk_corridor`` — an existing customer withdraws cash in a high-risk country, or sends
  money in 2–4 transfers to an account that lives there (its first transaction was there).

>>> import polars as pl
>>> from simulator import simulate_history
>>> h = simulate_history(3, seed=1, customers=150, merchants=30)
>>> events = with_planted_cases(h.events, seed=1, cases=4)
>>> events.height > h.events.height, events["occurred_at"].is_sorted()
(True, True)
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

HIGH_RISK = ("IR", "RU", "MM", "KP")


def with_planted_cases(events: pl.DataFrame, seed: int, cases: int = 10) -> pl.DataFrame:
    """``events`` plus ``cases`` planted cases of each of the two typologies, in time order."""
    rng = np.random.default_rng(seed + 1_000)
    start, end = events["occurred_at"].min(), events["occurred_at"].max()
    span = (end - start).total_seconds()  # type: ignore[operator]
    customers = events.filter(pl.col("event_type") == "p2p_transfer")["account_id"].unique(
        maintain_order=True).to_list()
    rows: list[dict[str, object]] = []

    def add(i: int, kind: str, at: object, event_type: str, amount_eur: float, account: str,
            other: str | None = None, country: str = "DE", suspicious: bool = True) -> str:
        tx = f"planted-{kind}-{i}-{len(rows)}"
        rows.append({"transaction_id": tx, "event_type": event_type, "occurred_at": at,
                     "amount_minor": int(amount_eur) * 100, "currency": "EUR",
                     "account_id": account, "counterparty_account_id": other,
                     "country": country, "channel": "mobile_app" if other else "atm",
                     "is_fraud": suspicious, "pattern": kind if suspicious else None})
        return tx

    for i in range(cases):
        at = start + timedelta(seconds=float(rng.uniform(0.1, 0.9) * span))
        sleeper = f"planted-sleeper-{i}"
        add(i, "dormant", start - timedelta(days=int(rng.integers(100, 300))), "top_up", 50,
            sleeper, suspicious=False)
        amount = float(rng.uniform(2_000, 9_000))
        add(i, "dormant", at, "top_up", amount, sleeper)
        add(i, "dormant", at + timedelta(hours=float(rng.uniform(1, 6))), "p2p_transfer",
            amount * 0.97, sleeper, str(rng.choice(customers)))
        who, where = str(rng.choice(customers)), str(rng.choice(HIGH_RISK))
        at = start + timedelta(seconds=float(rng.uniform(0.1, 0.9) * span))
        if rng.random() < 0.5:
            add(i, "high_risk_corridor", at, "withdrawal", float(rng.uniform(1_000, 5_000)),
                who, country=where)
        else:
            abroad = f"planted-abroad-{i}"
            add(i, "high_risk_corridor", at - timedelta(days=1), "top_up", 20, abroad,
                country=where, suspicious=False)
            for k in range(int(rng.integers(2, 5))):
                add(i, "high_risk_corridor", at + timedelta(hours=6 * k), "p2p_transfer",
                    float(rng.uniform(300, 900)), who, abroad)
    planted = pl.DataFrame(rows, schema={k: events.schema[k] for k in rows[0]})
    return pl.concat([events, planted], how="diagonal_relaxed").select(events.columns).sort(
        "occurred_at", maintain_order=True)
