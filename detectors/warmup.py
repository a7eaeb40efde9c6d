"""The detectors' state at start: the lake's transactions of the last horizon, replayed.

The worker writes a batch's lake rows after its alerts, so the lake holds every transaction
whose alerts are stored; replaying the last horizon (the longest detector window) in the order
the stream applied them rebuilds what the detectors knew. Rows come with the dormancy feature
the stream computed (``f_acct_seconds_since_prev``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

from core.lake import connect
from core.lake_schema import FEATURE_PREFIX
from detectors.context import Seen

_COLUMNS = ("transaction_id", "epoch_us(occurred_at)", "event_type", "amount_minor",
            "currency", "account_id", "counterparty_account_id", "country",
            f"{FEATURE_PREFIX}acct_seconds_since_prev", "merchant_id")


def lake_history(lake_dir: Path, horizon_us: int) -> Iterator[Seen]:
    """The lake's transactions of the horizon before its newest one, in applied order."""
    if not (Path(lake_dir) / "transactions").exists():
        return
    con = connect(Path(lake_dir))
    ((newest,),) = con.sql("SELECT max(epoch_us(occurred_at)) FROM transactions").fetchall()
    if newest is None:
        return
    rows = con.sql(
        f"SELECT {', '.join(_COLUMNS)} FROM transactions "  # noqa: S608 - fixed columns
        "WHERE epoch_us(occurred_at) > ? "
        "ORDER BY processed_at, source_partition, source_offset, occurred_at, transaction_id",
        params=[int(newest) - horizon_us]).fetchall()
    for tx, t_us, etype, amount, currency, account, other, country, gap, merchant in rows:
        yield Seen(tx, int(t_us), etype, int(amount), currency, account, other, country,
                   math.nan if gap is None else float(gap), merchant)
