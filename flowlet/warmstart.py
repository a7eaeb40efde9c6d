"""A fresh stack's simulated world has a past, and live traffic continues it.

Without one, every account and merchant of a fresh ``flowlet up`` is brand new and no fraud
case is under way, where the history the model learned from gave them weeks: the bootstrap
model alerted 0.03 % of live traffic against 1.78 % on validation. So before the worker
consumes, :func:`warm_start` draws the live world's last :func:`history_hours` — the same
:class:`~simulator.Simulator` (seed, size) the live simulator builds, paced by
:class:`~simulator.pacing.Pace` — and materialises it into the feature state
(:func:`streams.materialise.materialise`). The live simulator, told the same window
(:meth:`Continuation.args`), draws that past again without publishing it and goes on from its
end: cases under way continue. Only transaction ids differ — each run, and each restart of the
simulator, has its own run tag — so no id is ever used twice. The state records that it
holds the world's past (meta ``simulated_history``); a restarted stack keeps it and its
simulator continues the same accounts under a new run tag.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.db import make_engine
from core.settings import Settings
from simulator import Simulator, merchants_for
from simulator.live import HISTORY_FRAUD_SHARE, accounts_for_rate
from simulator.pacing import Pace
from streams.materialise import materialise
from streams.state import StateStore, read_meta

log = logging.getLogger(__name__)

#: The live simulator's default seed (``flowlet simulate --seed``).
SIMULATOR_SEED = 11
#: Hours of the world's past a fresh stack materialises at the default rate (20/s: ~72k at the
#: mean rhythm, 64k at 20-21 UTC; 18-34 s to draw and materialise on the shared machine) ...
HISTORY_HOURS = 1.0
#: ... and at most this many transactions' worth at a higher rate (a shorter past), so the
#: first start stays about as quick.
HISTORY_EVENTS = 72_000


def history_hours(rate: float) -> float:
    """How much of the world's past a fresh stack at ``rate`` materialises.

    >>> history_hours(20), history_hours(40), history_hours(1)
    (1.0, 0.5, 1.0)
    """
    return min(HISTORY_HOURS, HISTORY_EVENTS / (rate * 3600)) if rate > 0 else HISTORY_HOURS
#: State meta key: the window of the world's past the state holds ("<start>/<end>", ISO).
META = "simulated_history"


@dataclass(frozen=True)
class Continuation:
    """The past a fresh stack materialised, for its live simulator to continue."""

    start: datetime
    end: datetime

    def args(self) -> list[str]:
        return ["--history-start", self.start.isoformat(), "--history-end", self.end.isoformat()]


def live_simulator(rate: float, seed: int = SIMULATOR_SEED, accounts: int | None = None,
                   run_tag: str | None = None) -> Simulator:
    """The live world at ``rate``: the history's mix, sized so each account acts as the
    history's do (:func:`~simulator.live.accounts_for_rate`); a run tag keeps a new run's ids
    new while the world (accounts, merchants) stays the same."""
    accounts = accounts or accounts_for_rate(rate)
    return Simulator(seed=seed, n_accounts=accounts, n_merchants=merchants_for(accounts),
                     fraud_share=HISTORY_FRAUD_SHARE, run_tag=run_tag)


def replay_history(sim: Simulator, rate: float, start: datetime, end: datetime) -> Pace:
    """Draw ``sim``'s past ``[start, end)`` again (unpublished) and return the pace to go on
    with: what the stack materialised, event for event."""
    pace = Pace(sim, rate)
    drawn = pace.skip(start, end)
    log.info("drew the world's past again (%d transactions, %s to %s): going on from there",
             drawn, start.isoformat(), end.isoformat())
    return pace


def warm_start(settings: Settings, rate: float, seed: int = SIMULATOR_SEED,
               hours: float | None = None, now: datetime | None = None
               ) -> Continuation | None:
    """Materialise the live world's last ``hours`` into the feature state of a fresh stack;
    None when the stack is not fresh: the state already holds the world's past (a restart),
    or the lake holds transactions (the worker rebuilds its state from them)."""
    if (settings.lake_dir / "transactions").exists():
        log.info("the lake holds transactions: no simulated past is materialised")
        return None
    engine = make_engine(settings.state_database_url, settings.ledger_sqlite_synchronous)
    try:
        held = read_meta(engine, META)
        if held is not None:
            log.info("the feature state holds the simulated world's past (%s): continuing it",
                     held)
            return None
        from flowlet.feed import run_tag

        hours = history_hours(rate) if hours is None else hours
        end = now or datetime.now(UTC)
        start = end - timedelta(hours=hours)
        tag = run_tag(end)
        started = time.perf_counter()
        sim = live_simulator(rate, seed, run_tag=tag)
        pace = Pace(sim, rate)
        events = (t.event for window in pace.history(start, end) for t in window)
        applied = materialise(StateStore(engine), events, processed_at=time.time(),
                              meta={META: f"{start.isoformat()}/{end.isoformat()}"})
        log.info("materialised the simulated world's last %g h (%d transactions, %d accounts) "
                 "in %.0f s", hours, applied, len(sim.world.customers.ids),
                 time.perf_counter() - started)
        return Continuation(start, end)
    finally:
        engine.dispose()
