"""Feature declarations: every model input is declared once, here.

Two kinds of declaration:

* :class:`EventFeature` — derived from the event alone, a polars expression evaluated over a
  micro-batch online and over history offline (one implementation);
* :class:`Feature` — stateful, per entity. Its semantics are fixed by its fields; the online
  engine (``features.online``) and the offline builder (``features.offline``) implement each
  ``aggregation`` independently and the parity tests hold them equal.

Time semantics, shared by both paths:

* times are integer microseconds since the epoch (no float rounding at window edges);
* each entity (account, merchant, device, network node) has a clock: the running maximum of the
  event times it has seen, in arrival order. Windows are measured on that clock, so a late event
  counts as if it arrived at the entity's newest time and every window is a contiguous run of the
  entity's events — windows are ``(clock - window, clock]``;
* "arrival order" is the order the entity's events reach it: the producer's order per account,
  which the offline builder takes as the row order of the history it is given.

>>> [f.name for f in FEATURES if f.family == "delayed_label"][::3]
['merchant_fraud_rate_1d_delay7d', 'device_fraud_rate_1d_delay7d', 'cp_fraud_rate_1d_delay7d']
>>> FEATURES_BY_NAME["cp_fraud_rate_1d_delay7d"].window_label
'1d'
>>> FEATURES_BY_NAME["acct_sum_24h"].window_label
'24h'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

from core.contract import Channel, EventType

EVENT_TYPES = [e.value for e in EventType]
CHANNELS = [c.value for c in Channel]

Entity = Literal["account", "card", "merchant", "device", "counterparty"]
Family = Literal["velocity", "behaviour", "delayed_label", "aml"]
#: Where a feature's state lives: the stream partition its records are keyed by.
Stage = Literal["account", "merchant", "device", "net_own", "net_in"]

HOUR = 3600
DAY = 24 * HOUR
US = 1_000_000  # microseconds per second

VELOCITY_WINDOWS: tuple[tuple[str, int], ...] = (
    ("1h", HOUR), ("24h", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY))
#: "New merchant/device/country": not seen by this account within this lookback.
FIRST_SEEN_LOOKBACK = 90 * DAY
#: Delayed-label risk: fraud rate over each window, ending this long before the event (labels
#: arrive days to weeks late; on a public card benchmark the short windows carried most of the
#: signal, issue 14). A new window is one entry here: every entity labels reach gets it, online
#: and offline.
LABEL_DELAY = 7 * DAY
LABEL_WINDOWS: tuple[tuple[str, int], ...] = (("1d", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY))
#: Wallet money in (credit) and out (debit) by event type, for pass-through.
INFLOW_TYPES = frozenset({"top_up", "refund", "chargeback"})
OUTFLOW_TYPES = frozenset({"p2p_transfer", "withdrawal", "merchant_payment", "card_capture"})
NIGHT_HOURS = range(0, 6)


@dataclass(frozen=True)
class EventFeature:
    name: str
    expr: pl.Expr
    description: str
    dtype: str = "float64"


@dataclass(frozen=True)
class Feature:
    """A stateful feature. ``window`` in seconds (None: the entity's whole retained history)."""

    name: str
    entity: Entity
    family: Family
    aggregation: str
    window: int | None
    description: str
    stage: Stage
    include_current: bool = True
    dtype: str = "float64"
    #: Delayed-label features: the window ends this many seconds before the event.
    delay: int | None = None

    @property
    def window_label(self) -> str | None:
        if self.window is None:
            return None
        days = self.window % DAY == 0 and (self.window >= 7 * DAY or self.delay is not None)
        return f"{self.window // DAY}d" if days else f"{self.window // HOUR}h"


EVENT_FEATURES: tuple[EventFeature, ...] = (
    EventFeature("amount_log10", (pl.col("amount_minor").cast(pl.Float64) + 1.0).log10(),
                 "log10(1 + amount in minor units)"),
    EventFeature("hour_of_day_utc", pl.col("occurred_at").dt.hour().cast(pl.Float64),
                 "Hour of the day (UTC) the transaction occurred"),
    EventFeature("event_type_code",
                 pl.col("event_type").replace_strict(EVENT_TYPES, list(range(len(EVENT_TYPES))),
                                                     default=-1).cast(pl.Float64),
                 "Event type as its index in the contract's enumeration"),
    EventFeature("channel_code",
                 pl.col("channel").replace_strict(CHANNELS, list(range(len(CHANNELS))),
                                                  default=-1).cast(pl.Float64),
                 "Channel as its index in the contract's enumeration"),
    EventFeature("card_not_present",
                 pl.col("channel").is_in(["ecommerce", "web", "api"]).cast(pl.Float64),
                 "1 when the card/customer was not physically present"),
    EventFeature("has_device", pl.col("device_id").is_not_null().cast(pl.Float64),
                 "1 when the upstream system reported a device id"),
)

_PREFIX: dict[Stage, str] = {"account": "acct", "merchant": "merchant", "device": "device"}
_VELOCITY_TEXT = {
    "count": "Number of the {e}'s transactions",
    "sum": "Sum of the {e}'s amounts in the event's currency (minor units)",
    "mean": "Mean of the {e}'s amounts in the event's currency (minor units)",
    "max": "Largest of the {e}'s amounts in the event's currency (minor units)",
}


def _velocity(entity: Entity, stage: Stage, prefix: str) -> list[Feature]:
    return [
        Feature(f"{prefix}_{agg}_{label}", entity, "velocity", agg, seconds,
                _VELOCITY_TEXT[agg].format(e=entity) + f" over the last {label}, this one "
                "included", stage)
        for label, seconds in VELOCITY_WINDOWS for agg in ("count", "sum", "mean", "max")
    ]


#: Whose delayed-label risk: (entity, stage whose state the labels reach, name prefix, what
#: the entity's transactions are). A label reaches each of these its transaction has.
LABELLED_ENTITIES: tuple[tuple[Entity, Stage, str, str], ...] = (
    ("merchant", "merchant", "merchant", "the merchant's transactions"),
    ("device", "device", "device", "the device's transactions"),
    ("counterparty", "net_in", "cp", "P2P receiver: the transfers it received"),
)


def _fraud_rates(entity: Entity, stage: Stage, prefix: str, what: str) -> list[Feature]:
    d = LABEL_DELAY // DAY
    return [
        Feature(f"{prefix}_fraud_rate_{label}_delay{d}d", entity, "delayed_label", "fraud_rate",
                seconds, f"Share of {what} in (t−{seconds // DAY + d}d, t−{d}d] labelled fraud "
                "by labels known at t (NaN without transactions there)", stage,
                delay=LABEL_DELAY)
        for label, seconds in LABEL_WINDOWS
    ]


FEATURES: tuple[Feature, ...] = (
    *_velocity("account", "account", "acct"),
    *_velocity("card", "account", "card"),
    *_velocity("merchant", "merchant", "merchant"),
    *_velocity("device", "device", "device"),
    Feature("acct_amount_zscore", "account", "behaviour", "zscore", None,
            "(amount − mean) / std of the account's earlier amounts in this currency "
            "(population std; NaN with fewer than 2 earlier or zero spread)", "account",
            include_current=False),
    Feature("acct_amount_ratio_to_mean", "account", "behaviour", "ratio_to_mean", None,
            "amount / mean of the account's earlier amounts in this currency (NaN if none)",
            "account", include_current=False),
    Feature("acct_seconds_since_prev", "account", "behaviour", "since_prev", None,
            "Seconds since the account's previous transaction on its clock (NaN if first)",
            "account", include_current=False),
    Feature("acct_new_merchant", "account", "behaviour", "first_seen:merchant_id",
            FIRST_SEEN_LOOKBACK, "1 if the account has not paid this merchant in 90 days "
            "(NaN without a merchant)", "account", include_current=False),
    Feature("acct_new_device", "account", "behaviour", "first_seen:device_id",
            FIRST_SEEN_LOOKBACK, "1 if the account has not used this device in 90 days "
            "(NaN without a device)", "account", include_current=False),
    Feature("acct_new_country", "account", "behaviour", "first_seen:country",
            FIRST_SEEN_LOOKBACK, "1 if the account has not transacted in this country in "
            "90 days", "account", include_current=False),
    Feature("acct_local_night", "account", "behaviour", "local_night", None,
            "1 if it is 00:00–05:59 in the account's home time zone (home = country of its "
            "first transaction)", "account"),
    Feature("acct_local_weekend", "account", "behaviour", "local_weekend", None,
            "1 if it is Saturday or Sunday in the account's home time zone", "account"),
    *(f for labelled in LABELLED_ENTITIES for f in _fraud_rates(*labelled)),
    Feature("device_distinct_accounts_24h", "device", "aml", "distinct:account_id", DAY,
            "Distinct accounts on this device over 24h, this one included", "device"),
    Feature("device_distinct_accounts_7d", "device", "aml", "distinct:account_id", 7 * DAY,
            "Distinct accounts on this device over 7d, this one included", "device"),
    Feature("acct_distinct_cp_out_24h", "account", "aml", "distinct:counterparty_account_id",
            DAY, "Distinct accounts this account sent P2P money to over 24h", "account"),
    Feature("acct_distinct_cp_out_7d", "account", "aml", "distinct:counterparty_account_id",
            7 * DAY, "Distinct accounts this account sent P2P money to over 7d", "account"),
    Feature("acct_structuring_count_24h", "account", "aml", "band_count", DAY,
            "Transactions just under the reporting threshold (90–100% of 10,000 major units) "
            "over 24h, this one included", "account"),
    Feature("acct_structuring_count_7d", "account", "aml", "band_count", 7 * DAY,
            "Transactions just under the reporting threshold over 7d, this one included",
            "account"),
    Feature("acct_distinct_cp_in_24h", "account", "aml", "distinct:sender", DAY,
            "Distinct accounts that sent P2P money to this account over 24h", "net_own"),
    Feature("acct_distinct_cp_in_7d", "account", "aml", "distinct:sender", 7 * DAY,
            "Distinct accounts that sent P2P money to this account over 7d", "net_own"),
    Feature("acct_pass_through_24h", "account", "aml", "pass_through", DAY,
            "Outflow / inflow of the account in this currency over 24h (NaN without inflow)",
            "net_own"),
    Feature("cp_distinct_senders_24h", "counterparty", "aml", "distinct:sender", DAY,
            "P2P receiver: distinct accounts that sent it money over 24h (fan-in), this one "
            "included", "net_in"),
    Feature("cp_distinct_senders_7d", "counterparty", "aml", "distinct:sender", 7 * DAY,
            "P2P receiver: distinct senders over 7d, this one included", "net_in"),
    Feature("cp_pass_through_24h", "counterparty", "aml", "pass_through", DAY,
            "P2P receiver: its outflow / inflow in this currency over 24h, this transfer "
            "included", "net_in"),
)

FEATURES_BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}
STAGE_FEATURES: dict[Stage, tuple[str, ...]] = {
    s: tuple(f.name for f in FEATURES if f.stage == s)
    for s in ("account", "merchant", "device", "net_own", "net_in")
}
#: Per stage, its delayed-label fraud rates (the stages labels reach).
FRAUD_RATES: dict[Stage, tuple[Feature, ...]] = {
    s: tuple(f for f in FEATURES if f.stage == s and f.aggregation == "fraud_rate")
    for s in ("merchant", "device", "net_in")
}
#: How far back a labelled transaction can still count: the longest window plus its delay.
LABEL_HORIZON = max((f.window or 0) + (f.delay or 0) for fs in FRAUD_RATES.values() for f in fs)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in EVENT_FEATURES) + tuple(
    f.name for f in FEATURES)


def to_micros(epoch_seconds: float) -> int:
    """Epoch seconds to integer microseconds, rounding like polars' ``dt.epoch("us")``.

    >>> to_micros(1.000001), to_micros(1_700_000_000.5)
    (1000001, 1700000000500000)
    """
    return round(epoch_seconds * US)



def registry() -> list[dict[str, object]]:
    """Every declared feature as a row, for docs and dashboards."""
    rows: list[dict[str, object]] = [
        {"name": f.name, "entity": "transaction", "family": "event", "aggregation": "expression",
         "window": None, "include_current": True, "dtype": f.dtype,
         "description": f.description}
        for f in EVENT_FEATURES
    ]
    rows += [
        {"name": f.name, "entity": f.entity, "family": f.family, "aggregation": f.aggregation,
         "window": f.window_label if f.delay is None else f"{f.window_label} ending "
         f"{f.delay // DAY}d before", "include_current": f.include_current, "dtype": f.dtype,
         "description": f.description}
        for f in FEATURES
    ]
    return rows


def with_event_features(frame: pl.DataFrame) -> pl.DataFrame:
    """Evaluate every declared event feature over a frame of events (batch or history)."""
    return frame.with_columns([f.expr.alias(f.name) for f in EVENT_FEATURES])
