"""The transaction simulator: a world of customers and merchants, their legitimate activity,
fraud and AML typologies injected on top, and labels that arrive late. See README.md.

* :func:`simulate_history` — days of labelled history as polars frames (vectorised, seconds);
* :class:`Simulator` — ``generate(n, start, end)``: exactly ``n`` events per window, for live
  publishing and tests; :func:`label_events` labels them;
* :func:`write_history` / :func:`read_history` — the history in the lake (Parquet).
"""

from simulator.history import History, merchants_for, simulate_history
from simulator.lake import read_history, write_history
from simulator.live import SimulatedTransaction, Simulator, label_events
from simulator.typologies import AML_PATTERNS, FRAUD_PATTERNS, PATTERNS

__all__ = [
    "AML_PATTERNS", "FRAUD_PATTERNS", "PATTERNS", "History", "SimulatedTransaction",
    "Simulator", "label_events", "merchants_for", "read_history", "simulate_history",
    "write_history",
]
