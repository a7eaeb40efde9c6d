"""What makes a fresh stack's live alert rate differ from validation? Scored offline.

Trains the bootstrap champion as ``flowlet up`` does (``ensure_champion`` in a scratch folder),
then draws the live world (``flowlet.warmstart.live_simulator`` at ``--rate``) for ``--minutes``
from ``--at`` three ways and scores those minutes with the champion (features by the offline
builder, equal to the stream's by the parity tests; no labels, as live):

* ``cold``: a fresh simulator starting at ``--at`` and an empty feature state — a stack before
  the warm start;
* ``past, cold state``: the simulator has drawn the ``--hours`` before (cases under way), the
  feature state has not seen them;
* ``past, warm state``: both, as ``flowlet up`` now starts (``--hours`` = its past).

    python scripts/live_vs_history.py --at 2026-12-07T22:30 --hours 1 --minutes 30
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from core.frames import events_frame
from core.settings import Settings
from features import FEATURE_NAMES, build_features
from flowlet.cli import utc_instant
from flowlet.warmstart import live_simulator
from models.registry import load_version, registry_client
from models.training.run import ensure_champion
from simulator.pacing import Pace

NO_LABELS = pl.DataFrame(schema={"transaction_id": pl.String, "is_fraud": pl.Boolean,
                                 "labelled_at": pl.Datetime("us", "UTC")})


def _score(model, txs: list, live_from: datetime) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def, type-arg]
    """(live transactions, alerts, frauds, frauds alerted) of the transactions from
    ``live_from``, features computed over all of ``txs``."""
    features = build_features(events_frame([t.event for t in txs]), NO_LABELS)
    live = np.array([t.event.occurred_at >= live_from for t in txs])
    scores = model.score(features.select(FEATURE_NAMES).to_pandas())[live]
    alerted = scores >= model.alert_threshold
    fraud = np.array([t.is_fraud for t in txs])[live]
    return int(live.sum()), int(alerted.sum()), int(fraud.sum()), int((alerted & fraud).sum())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--at", type=utc_instant, required=True, help="when live starts (UTC)")
    p.add_argument("--hours", type=float, default=1.0, help="the past drawn before it")
    p.add_argument("--minutes", type=float, default=30.0, help="live minutes scored")
    p.add_argument("--rate", type=float, default=20.0, help="mean transactions per second")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    at: datetime = args.at
    live_end = at + timedelta(minutes=args.minutes)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        version = ensure_champion(settings)
        model = load_version(registry_client(settings), settings.model_name, version)
        fresh = [t for w in Pace(live_simulator(args.rate, run_tag="cold"), args.rate).history(
            at, live_end) for t in w]
        drawn = [t for w in Pace(live_simulator(args.rate, run_tag="warm"), args.rate).history(
            at - timedelta(hours=args.hours), live_end) for t in w]
        after = [t for t in drawn if t.event.occurred_at >= at]
        rows = {"cold": _score(model, fresh, at),
                "past, cold state": _score(model, after, at),
                "past, warm state": _score(model, drawn, at)}
    print(f"bootstrap champion v{version}: validation alert rate "
          f"{model.validation_alert_rate:.3%} (threshold {model.alert_threshold:.4f}); live "
          f"{at.isoformat()} + {args.minutes:g} min at {args.rate:g}/s, past {args.hours:g} h")
    for name, (n, alerts, frauds, caught) in rows.items():
        print(f"  {name:17s} {n:7,d} transactions, {alerts:5,d} alerts ({alerts / n:.3%}, "
              f"{alerts / n / model.validation_alert_rate:.2f}x validation); "
              f"{frauds:,d} frauds, {caught:,d} alerted")


if __name__ == "__main__":
    main()
