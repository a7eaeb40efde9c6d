"""Feature declarations: each model input is declared once, here.

Two kinds:

* :class:`EventFeature` — derived from the event alone, declared as a polars expression over the
  event columns; the stream evaluates the same expression over each micro-batch and training
  evaluates it over history, so there is one implementation.
* :class:`WindowFeature` — an aggregate per entity over a tumbling event-time window
  ``[floor(t / size) * size, +size)``, including the current event. Online it lives in a Faust
  windowed table; offline it is a cumulative aggregate over the same buckets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

from flowlet.contract import Channel, EventType

EVENT_TYPES = [e.value for e in EventType]
CHANNELS = [c.value for c in Channel]


@dataclass(frozen=True)
class EventFeature:
    name: str
    expr: pl.Expr
    description: str
    dtype: str = "float64"


@dataclass(frozen=True)
class WindowFeature:
    name: str
    entity: Literal["account"]
    agg: Literal["count", "sum"]
    window_seconds: int
    description: str
    #: Sums are kept per currency: amounts of different currencies are never added.
    per_currency: bool = True
    dtype: str = "float64"

    @property
    def entity_column(self) -> str:
        return {"account": "account_id"}[self.entity]


HOUR = 3600
DAY = 24 * HOUR

EVENT_FEATURES: tuple[EventFeature, ...] = (
    EventFeature(
        "amount_log10",
        (pl.col("amount_minor").cast(pl.Float64) + 1.0).log10(),
        "log10(1 + amount in minor units)",
    ),
    EventFeature(
        "hour_of_day_utc",
        pl.col("occurred_at").dt.hour().cast(pl.Float64),
        "Hour of the day (UTC) the transaction occurred",
    ),
    EventFeature(
        "event_type_code",
        pl.col("event_type").replace_strict(EVENT_TYPES, list(range(len(EVENT_TYPES))),
                                            default=-1).cast(pl.Float64),
        "Event type as its index in the contract's enumeration",
    ),
    EventFeature(
        "channel_code",
        pl.col("channel").replace_strict(CHANNELS, list(range(len(CHANNELS))),
                                         default=-1).cast(pl.Float64),
        "Channel as its index in the contract's enumeration",
    ),
    EventFeature(
        "card_not_present",
        pl.col("channel").is_in(["ecommerce", "web", "api"]).cast(pl.Float64),
        "1 when the card/customer was not physically present",
    ),
    EventFeature(
        "has_device",
        pl.col("device_id").is_not_null().cast(pl.Float64),
        "1 when the upstream system reported a device id",
    ),
)

WINDOW_FEATURES: tuple[WindowFeature, ...] = (
    WindowFeature("acct_tx_count_1h", "account", "count", HOUR,
                  "Transactions of the account in the current 1 h bucket (incl. this one)",
                  per_currency=False),
    WindowFeature("acct_tx_count_24h", "account", "count", DAY,
                  "Transactions of the account in the current 24 h bucket (incl. this one)",
                  per_currency=False),
    WindowFeature("acct_amount_sum_1h", "account", "sum", HOUR,
                  "Amount (minor units, this event's currency) in the current 1 h bucket"),
    WindowFeature("acct_amount_sum_24h", "account", "sum", DAY,
                  "Amount (minor units, this event's currency) in the current 24 h bucket"),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in EVENT_FEATURES) + tuple(
    f.name for f in WINDOW_FEATURES
)


def bucket_start(epoch_seconds: float, window_seconds: int) -> int:
    """Start of the tumbling bucket holding ``epoch_seconds``.

    >>> bucket_start(7199.9, 3600), bucket_start(7200, 3600)
    (3600, 7200)
    """
    return int(epoch_seconds // window_seconds) * window_seconds


def registry() -> list[dict[str, object]]:
    """Every declared feature as a row, for docs and dashboards."""
    rows: list[dict[str, object]] = [
        {"name": f.name, "kind": "event", "entity": "transaction", "window": None,
         "dtype": f.dtype, "description": f.description}
        for f in EVENT_FEATURES
    ]
    rows += [
        {"name": f.name, "kind": f"window/{f.agg}", "entity": f.entity,
         "window": f"{f.window_seconds // HOUR}h", "dtype": f.dtype,
         "description": f.description}
        for f in WINDOW_FEATURES
    ]
    return rows
