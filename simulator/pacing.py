"""A world's events at a mean rate that follows its rhythm — history first, then live.

Live publishing used to ask the simulator for exactly ``rate × seconds`` events in every window,
day and night alike. The history a model learns from follows the world's rhythm (nights at ~5 %
of the evening peak), so a constant rate crowded night traffic onto accounts that the
history shows nearly asleep — and the model alerted several times its validation rate at
night. A :class:`Pace` asks for what the world does in the window instead: ``rate`` is the
*mean* over a week (the world's intensity there, relative to its mean, scales it), and the
fraction left over by rounding is carried to the next window.

:meth:`Pace.history` draws the world's past with the very same :class:`~simulator.Simulator`
that goes on to publish live, so live continues it: the same accounts and merchants, fraud
cases under way at the seam, balances, and transaction ids that go on counting.

>>> from datetime import UTC, datetime, timedelta
>>> sim = Simulator(seed=1, n_accounts=2_000, n_merchants=200)
>>> night, evening = datetime(2026, 3, 4, 2, tzinfo=UTC), datetime(2026, 3, 4, 18, tzinfo=UTC)
>>> intensity(sim, night, night + timedelta(hours=1)) < 0.3 < 1.2 < intensity(
...     sim, evening, evening + timedelta(hours=1))
True
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from simulator.live import SimulatedTransaction, Simulator
from simulator.rhythm import DAY_US, US, expected_days

#: Windows the past is drawn in: long ones (each ``generate`` call costs ~0.1–1 s on a world
#: of 617k accounts, mostly per customer, not per event).
HISTORY_WINDOW = timedelta(minutes=10)


def intensity(sim: Simulator, start: datetime, end: datetime) -> float:
    """The world's activity in ``[start, end)`` relative to its weekly mean (1 = average)."""
    people = sim.world.customers
    start_us, end_us = int(start.timestamp() * US), int(end.timestamp() * US)
    days = (end_us - start_us) / DAY_US
    total = float(people.activity.sum())
    if days <= 0 or total <= 0:
        return 0.0
    return float((people.activity * expected_days(start_us, end_us, people.utc_offset)).sum()
                 ) / (total * days)


class Pace:
    """``sim``'s events window after window, ``rate`` per second on average over a week."""

    def __init__(self, sim: Simulator, rate: float) -> None:
        self.sim, self.rate = sim, rate
        self._owed = 0.0  # events due but not yet drawn (less than one)

    def window(self, start: datetime, end: datetime) -> list[SimulatedTransaction]:
        """The events of ``[start, end)``: the rate, scaled by the world's rhythm there."""
        n = self._due(start, end)
        return self.sim.generate(n, start, end) if n else []

    def skip(self, start: datetime, end: datetime, step: timedelta = HISTORY_WINDOW) -> int:
        """Draw ``[start, end)`` as :meth:`history` does, keeping only what spans windows
        (cases under way, balances, the id counter); returns how many events it held."""
        drawn, t = 0, start
        while t < end:
            nxt = min(t + step, end)
            n = self._due(t, nxt)
            drawn += self.sim.generate_rows(n, t, nxt).height if n else 0
            t = nxt
        return drawn

    def _due(self, start: datetime, end: datetime) -> int:
        self._owed += self.rate * (end - start).total_seconds() * intensity(self.sim, start, end)
        n = int(self._owed)
        self._owed -= n
        return n

    def history(self, start: datetime, end: datetime,
                step: timedelta = HISTORY_WINDOW) -> Iterator[list[SimulatedTransaction]]:
        """``[start, end)`` in windows of ``step`` (the last one shorter), each in time order."""
        t = start
        while t < end:
            nxt = min(t + step, end)
            yield self.window(t, nxt)
            t = nxt
