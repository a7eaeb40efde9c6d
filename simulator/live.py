"""The object API: ``Simulator.generate`` — exactly ``n`` events per window, window after window.

Publishing live asks for one short window at a time. A :class:`Simulator` keeps its world, its
random stream and what spans windows: wallet balances (so it funds only what would overdraw),
and events due after the window (captures, the rest of a typology case), emitted when their
window comes. Each call returns exactly ``n`` events in ``[start, end)``: the simulator draws a
little more than needed and leaves out whole legitimate purchases (with their follow-ups).

>>> from datetime import UTC, datetime
>>> sim = Simulator(seed=1, n_accounts=20, n_merchants=5)
>>> txs = sim.generate(200, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
>>> len(txs), txs == Simulator(seed=1, n_accounts=20, n_merchants=5).generate(
...     200, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
(200, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

from core.contract import LabelEvent, TransactionEvent, label_for
from simulator.followups import with_followups
from simulator.funding import balance_deltas, funding_top_ups
from simulator.labels import LabelDelays, label_rows
from simulator.legit import legit_activity
from simulator.profiles import build_world
from simulator.rhythm import US, expected_days
from simulator.rows import Scene, block, concat, empty_block, finalize, take
from simulator.typologies import case_counts, typology_rows

#: Transactions a simulated customer makes per day on average (``simulate_history``'s world,
#: measured: 2.79 over 7 days × 2,000 customers).
EVENTS_PER_CUSTOMER_DAY = 2.8
#: Live fraud and AML share, as ``simulate_history``'s defaults (1 % fraud, 0.5 % AML).
HISTORY_FRAUD_SHARE = 0.015


def accounts_for_rate(rate: float) -> int:
    """Customers whose everyday activity adds up to ``rate`` transactions per second: a live
    run at that rate then gives each account the per-day activity the history (and a model
    trained on it) knows, instead of crowding the rate onto a few hundred accounts.

    >>> accounts_for_rate(20), accounts_for_rate(0.01)
    (617143, 500)
    """
    return max(500, math.ceil(rate * 86_400 / EVENTS_PER_CUSTOMER_DAY))


@dataclass(frozen=True)
class SimulatedTransaction:
    event: TransactionEvent
    is_fraud: bool
    pattern: str | None = None


def to_transactions(history_rows: pl.DataFrame) -> list[SimulatedTransaction]:
    """Finalized rows (canonical columns + truth) → validated ``SimulatedTransaction``s."""
    out = []
    for row in history_rows.iter_rows(named=True):
        is_fraud, pattern = row.pop("is_fraud"), row.pop("pattern")
        event = TransactionEvent.model_validate({k: v for k, v in row.items() if v is not None})
        out.append(SimulatedTransaction(event, is_fraud, pattern))
    return out


class Simulator:
    """Typology-rich events for any sequence of windows; ``fraud_share`` ≈ suspicious share."""

    def __init__(self, seed: int = 7, n_accounts: int = 500, n_merchants: int = 100,
                 fraud_share: float = 0.03, run_tag: str | None = None) -> None:
        self.seed = seed
        #: In every transaction id (``tx-<seed>-<run_tag>.<n>``): the same world (accounts,
        #: merchants) in a new run, with ids no earlier run used.
        self.id_tag = f"{seed}-{run_tag}" if run_tag else str(seed)
        self.fraud_share = fraud_share
        self.world = build_world(seed, n_accounts, n_merchants)
        self._rng = np.random.default_rng(seed)
        self._next_key = 0
        self._next_case = 0
        self._pending = empty_block()
        self._balances = pl.DataFrame(schema={"account_id": pl.String(), "currency": pl.String(),
                                              "balance": pl.Int64()})

    def generate(self, n: int, start: datetime, end: datetime) -> list[SimulatedTransaction]:
        """``n`` transactions with occurred_at in [start, end), sorted by time."""
        return to_transactions(finalize(self.generate_rows(n, start, end), self.id_tag))

    def generate_rows(self, n: int, start: datetime, end: datetime) -> pl.DataFrame:
        start_us, end_us = int(start.timestamp() * US), int(end.timestamp() * US)
        scene = Scene(self.world, self._rng, start_us, end_us, self._next_key, self._next_case)
        people = self.world.customers
        per_scale = float((people.activity * expected_days(start_us, end_us,
                                                           people.utc_offset)).sum())
        scale = 1.4 * n / max(per_scale, 1e-9) + 1e-9
        legit = with_followups(scene, legit_activity(scene, scale))
        counts = case_counts(scene.rng, legit.height, self.fraud_share * 2 / 3,
                             self.fraud_share / 3, at_least_one=False)
        rows = concat([self._pending, legit, *typology_rows(scene, counts)])
        rows = rows.filter(pl.col("occurred_us") >= start_us)
        due = pl.col("occurred_us") < end_us
        window, later = rows.filter(due), rows.filter(~due)
        window, funding, dropped = self._fit(scene, window, n)
        emitted = concat([window, funding])
        self._pending = later.filter(~pl.col("original_key").is_in(dropped).fill_null(False))
        self._balances = pl.concat([
            self._balances, balance_deltas(emitted).select(
                "account_id", "currency", balance="delta")]).group_by(
            "account_id", "currency").agg(pl.col("balance").sum()).sort("account_id", "currency")
        self._next_key, self._next_case = scene.next_key, scene.next_case
        return emitted

    def _fit(self, scene: Scene, window: pl.DataFrame, n: int
             ) -> tuple[pl.DataFrame, pl.DataFrame, pl.Series]:
        """Leave out whole legitimate purchases (or add top-ups) until rows + funding == n."""
        rng = scene.rng
        dropped = pl.Series("key", [], pl.Int64)
        for _ in range(50):
            funding = funding_top_ups(scene, window, self._balances)
            excess = window.height + funding.height - n
            if excess == 0:
                return window, funding, dropped
            if excess > 0:
                primaries = window.filter(~pl.col("is_fraud") & pl.col("original_key").is_null()
                                          & pl.col("case_id").is_null())["key"]
                if primaries.len() == 0:  # only follow-ups and cases left: cut the latest
                    primaries = window.sort("occurred_us", "key")["key"].tail(excess)
                chosen = primaries.gather(rng.choice(primaries.len(), min(excess,
                                                     primaries.len()), replace=False))
                dropped = pl.concat([dropped, chosen])
                dependants = window.filter(pl.col("original_key").is_in(chosen))["key"]
                dropped = pl.concat([dropped, dependants])
                window = window.filter(~pl.col("key").is_in(chosen)
                                       & ~pl.col("original_key").is_in(chosen).fill_null(False))
            else:
                window = concat([window, self._top_ups(scene, -excess)])
        raise RuntimeError(f"could not fit {n} events into the window")

    def _top_ups(self, scene: Scene, k: int) -> pl.DataFrame:
        people, rng = self.world.customers, scene.rng
        who = rng.integers(0, len(people), k)
        return block(scene, occurred_us=rng.integers(scene.start_us, scene.end_us, k),
                     event_type="top_up", amount_minor=(people.income_minor[who] * 0.2)
                     .astype(np.int64) // 1000 * 1000 + 1000,
                     currency=take(people.currency, who), account_id=take(people.ids, who),
                     country=take(people.country, who), channel="api")


def label_events(txs: list[SimulatedTransaction], seed: int = 0,
                 cleared_share: float = 0.01, missed_share: float = 0.0) -> list[LabelEvent]:
    """Late labels for simulated transactions, sorted by when they became known.

    Delays follow :class:`LabelDelays` (each transaction on its own: chargebacks for card fraud,
    analysts otherwise, investigations weeks later for AML); ``cleared_share`` of legitimate
    transactions is labelled not-fraud. Deterministic under ``seed``.

    >>> from datetime import UTC, datetime
    >>> txs = Simulator(seed=2, n_accounts=30, n_merchants=5, fraud_share=0.3).generate(
    ...     300, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 8, tzinfo=UTC))
    >>> labels = label_events(txs, seed=2)
    >>> all(lab.occurred_at > lab.transaction_occurred_at for lab in labels)
    True
    >>> sum(lab.is_fraud for lab in labels) == sum(t.is_fraud for t in txs)
    True
    """
    rows = pl.DataFrame({
        "key": np.arange(len(txs), dtype=np.int64),
        "occurred_us": [int(t.event.occurred_at.timestamp() * US) for t in txs],
        "event_type": [t.event.event_type.value for t in txs],
        "is_fraud": [t.is_fraud for t in txs], "pattern": [t.pattern for t in txs],
        "case_id": np.arange(len(txs), dtype=np.int64)},
        schema_overrides={"pattern": pl.String, "occurred_us": pl.Int64})
    scene = Scene(build_world(seed, 2, 1), np.random.default_rng(seed), 0, 0)
    delays = LabelDelays(missed_share=missed_share, cleared_share=cleared_share)
    found = label_rows(scene, rows, delays, end_us=None).sort("labelled_us", "key")
    out = []
    for key, labelled_us, is_fraud, source in found.select(
            "key", "labelled_us", "is_fraud", "source").iter_rows():
        ev = txs[key].event
        out.append(label_for(
            ev, label_id=f"label-{ev.transaction_id}",
            occurred_at=datetime.fromtimestamp(labelled_us / US, UTC),
            is_fraud=is_fraud, source=source))
    return out
