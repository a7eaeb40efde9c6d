"""Recent live rows from the lake, for the gate to hold a candidate to today's traffic.

The promotion gate's test window is simulated or historical; issue 14's demo promoted a model
that alerted 97 % of live traffic because nothing looked at live rows. The lake has them: every
scored transaction with the stream's own values of the stateful features (``f_<name>``
columns, ``core.lake_schema``) and the event columns the per-event features are computed from
(``features.with_event_features``) — so a candidate scores exactly what it would have scored
live.

Labels the stream applied (analyst decisions, chargebacks: the lake's ``labels`` view) give
the rows their ``y`` — the latest label of each transaction, unlabelled rows legitimate, as in
training — so the gate can compare candidate and champion AP on them. Only when at least one
fraud label falls on the window; without, ``y`` is None and the rows check the alert rate
only. A caveat the gate's figures carry: analysts label what the champion alerted, so recent
labels favour the champion; chargebacks do not.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from core.lake import connect, lake_files
from core.lake_schema import FEATURE_PREFIX
from features import FEATURE_NAMES, FEATURES, with_event_features
from models.training.gate import RecentRows

log = logging.getLogger(__name__)

#: At most this many rows, the latest first: enough for an alert rate at a 0.5 % budget
#: (≈250 alerts expected) and cheap to score.
MAX_ROWS = 50_000

#: The event columns the per-event features read.
_EVENT_COLUMNS = ("amount_minor", "occurred_at", "event_type", "channel", "device_id")


def recent_lake_rows(lake_dir: Path, days: float, *, now: datetime | None = None,
                     limit: int = MAX_ROWS) -> RecentRows | None:
    """The feature rows of transactions the stream processed in the last ``days`` (by
    ``processed_at``, UTC), at most ``limit``, latest first; None when there are none."""
    if not lake_files(Path(lake_dir)):
        return None
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    stateful = [f.name for f in FEATURES]
    columns = ", ".join([*(f"t.{c}" for c in _EVENT_COLUMNS),
                         *(f't."{FEATURE_PREFIX}{n}" AS "{n}"' for n in stateful)])
    con = connect(Path(lake_dir), stateful)
    try:
        frame = con.sql(
            f"SELECT {columns}, l.is_fraud AS label FROM transactions t LEFT JOIN ("
            "  SELECT labelled_transaction_id, arg_max(is_fraud, occurred_at) AS is_fraud"
            "  FROM labels GROUP BY 1) l ON l.labelled_transaction_id = t.transaction_id "
            "WHERE t.processed_at >= $since "
            "ORDER BY t.processed_at DESC, t.transaction_id LIMIT $limit",
            params={"since": since, "limit": limit}).pl()
    finally:
        con.close()
    if frame.height == 0:
        return None
    X = with_event_features(frame).select(  # noqa: N806
        [pl.col(n).cast(pl.Float64) for n in FEATURE_NAMES]).to_pandas()
    y = frame["label"].fill_null(False).to_numpy().astype(bool)
    log.info("%d recent lake rows since %s for the gate, %d labelled fraud", len(X),
             since.isoformat(), int(y.sum()))
    return RecentRows(X.astype(np.float64), y if y.any() else None)
