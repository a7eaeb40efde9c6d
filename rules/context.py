"""What a condition can name, and the frame it is evaluated on — the same in the stream and over
the lake.

The evaluation context is a polars frame with one row per transaction, built from **lake rows**
(:func:`context_frame`): the stream's ``BatchProcessor`` hands a source the rows it is about to
write to the lake, and the backtest reads those rows back. So one compiled expression sees the
same columns, types and values in both places, which the parity test holds it to. Its columns:

* the event's fields and the scoring outcome, under their lake names (``amount_minor``,
  ``country``, ``score``, ``is_alert``, ...: :data:`EVENT_FIELDS`, :data:`SCORE_FIELDS`);
* every feature under its declared name (``features.FEATURE_NAMES``): the stateful ones from
  the lake's ``f_<name>`` columns, the per-event ones computed by ``with_event_features``;
* customer attributes as ``customer.<attribute>`` (:data:`CUSTOMER_ATTRIBUTES`), left-joined
  by ``account_id`` from an optional customers frame. Without one (or for an account it lacks)
  they are null, so a rule over them is valid today and fires once profiles arrive — the
  language does not change when they do.

>>> from datetime import UTC, datetime
>>> row = {"transaction_id": "t1", "occurred_at": datetime(2026, 1, 1, tzinfo=UTC),
...        "amount_minor": 99, "event_type": "top_up", "channel": "web", "device_id": None,
...        "account_id": "a1", "f_acct_count_1h": 3.0}
>>> frame = context_frame(pl.DataFrame([row]))
>>> frame["acct_count_1h"][0], frame["amount_log10"][0], frame["customer.pep"][0]
(3.0, 2.0, None)
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from core.lake_schema import FEATURE_PREFIX
from features import FEATURE_NAMES, FEATURES, with_event_features

NUMBER, STRING, BOOL, TIME = "number", "string", "bool", "time"


@dataclass(frozen=True)
class Field:
    name: str  # as a condition writes it
    kind: str  # number | string | bool | time
    category: str  # event | score | feature | customer
    dtype: pl.DataType  # in the context frame
    description: str = ""


_EVENT = (
    ("transaction_id", STRING, "the event's id"),
    ("event_type", STRING, "card_authorization, p2p_transfer, top_up, withdrawal, ..."),
    ("occurred_at", TIME, "when it happened (UTC)"),
    ("amount_minor", NUMBER, "amount in the currency's minor units"),
    ("currency", STRING, "ISO 4217 code"),
    ("account_id", STRING, "the customer account (payer of a transfer)"),
    ("counterparty_account_id", STRING, "the other account of a transfer"),
    ("merchant_id", STRING, "the merchant of a card or merchant payment"),
    ("card_token", STRING, "tokenised card"),
    ("device_id", STRING, "the device"),
    ("country", STRING, "ISO 3166 alpha-2 country of the event"),
    ("channel", STRING, "pos, ecommerce, web, api, ..."),
    ("mcc", STRING, "ISO 18245 merchant category code"),
    ("ip_address", STRING, "the client's IP address"),
    ("target_currency", STRING, "fx_conversion: the currency bought"),
    ("target_amount_minor", NUMBER, "fx_conversion: the amount bought"),
    ("fee_minor", NUMBER, "the fee charged, in minor units"),
    ("original_transaction_id", STRING, "refund / chargeback: the transaction it reverses"),
)
_SCORES = (
    ("score", NUMBER, "the champion's fraud score in [0, 1]"),
    ("score_supervised", NUMBER, "the supervised member's score"),
    ("score_anomaly", NUMBER, "the anomaly member's score"),
    ("is_alert", BOOL, "the champion alerted (score >= its threshold)"),
    ("model_version", STRING, "'name/version' of the champion"),
    ("ledger_status", STRING, "posted or rejected"),
)
#: The customer profile (issue 16's ``customer`` event): joined by ``account_id``.
CUSTOMER_ATTRIBUTES = (
    ("type", STRING, "individual or business"),
    ("country", STRING, "country of residence or incorporation"),
    ("pep", BOOL, "politically exposed person"),
    ("declared_income_minor", NUMBER, "declared yearly income, minor units"),
    ("occupation", STRING, "occupation or line of business"),
    ("onboarded_at", TIME, "onboarding date"),
    ("risk_band", STRING, "customer risk rating: low, medium, high"),
)
CUSTOMER_PREFIX = "customer."

_DTYPES = {NUMBER: pl.Float64(), STRING: pl.String(), BOOL: pl.Boolean(),
           TIME: pl.Datetime("us", "UTC")}

EVENT_FIELDS = tuple(Field(n, k, "event", _DTYPES[k], d) for n, k, d in _EVENT)
SCORE_FIELDS = tuple(Field(n, k, "score", _DTYPES[k], d) for n, k, d in _SCORES)
FEATURE_FIELDS = tuple(Field(n, NUMBER, "feature", pl.Float64()) for n in FEATURE_NAMES)
CUSTOMER_FIELDS = tuple(Field(CUSTOMER_PREFIX + n, k, "customer", _DTYPES[k], d)
                        for n, k, d in CUSTOMER_ATTRIBUTES)
#: Every name a condition may use.
FIELDS: dict[str, Field] = {f.name: f for f in (*EVENT_FIELDS, *SCORE_FIELDS,
                                                 *FEATURE_FIELDS, *CUSTOMER_FIELDS)}
STATEFUL = tuple(f.name for f in FEATURES)
#: Lake columns the per-event features are computed from.
EVENT_FEATURE_INPUTS = ("amount_minor", "occurred_at", "event_type", "channel", "device_id")


def lake_columns(names: set[str] | frozenset[str]) -> list[str]:
    """The lake columns a context with ``names`` needs (ids and event-feature inputs always)."""
    wanted = {"transaction_id", "account_id", "merchant_id", "occurred_at", "amount_minor",
              "currency", "is_alert", "score", *EVENT_FEATURE_INPUTS}
    for name in names:
        if name in STATEFUL:
            wanted.add(FEATURE_PREFIX + name)
        elif FIELDS[name].category in ("event", "score"):
            wanted.add(name)
    return sorted(wanted)


def context_frame(rows: pl.DataFrame, customers: pl.DataFrame | None = None) -> pl.DataFrame:
    """The evaluation context of lake ``rows`` (all lake columns or those of
    :func:`lake_columns`), with ``customers`` (``account_id`` + attribute columns) joined."""
    stateful = [c for c in rows.columns if c.startswith(FEATURE_PREFIX)]
    frame = rows.rename({c: c[len(FEATURE_PREFIX):] for c in stateful})
    frame = frame.with_columns(pl.col("occurred_at").dt.convert_time_zone("UTC")
                               .dt.cast_time_unit("us"))
    frame = with_event_features(frame)
    if customers is not None and customers.height:
        attrs = [c for c in customers.columns if c != "account_id"]
        frame = frame.join(
            customers.select("account_id", *[pl.col(c).alias(CUSTOMER_PREFIX + c)
                                             for c in attrs]).unique("account_id", keep="last"),
            on="account_id", how="left", maintain_order="left")
    missing = [pl.lit(None, f.dtype).alias(f.name) for f in CUSTOMER_FIELDS
               if f.name not in frame.columns]
    return frame.with_columns(missing) if missing else frame
