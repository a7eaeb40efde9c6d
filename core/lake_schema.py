"""The lake's transaction row, declared once: the sink writes it, the reader and dashboards
read it, the tests hold the pipeline's rows to it.

A row is the :data:`TRANSACTION_COLUMNS` in order, then one ``f_<feature>`` column per stateful
feature the stream computed (:func:`feature_column`; the caller passes the feature names, so
this module needs no other project package). Arrow types are the declaration; DuckDB types are
derived from them (:func:`duckdb_type`).

>>> [c.name for c in transaction_columns(["acct_count_1h"])][-2:]
['processed_at', 'f_acct_count_1h']
>>> column("reason_codes").duckdb_type, column("occurred_at").duckdb_type
('VARCHAR[]', 'TIMESTAMP WITH TIME ZONE')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import pyarrow as pa

UTC_MICROS = pa.timestamp("us", tz="UTC")
FEATURE_PREFIX = "f_"


def duckdb_type(arrow: pa.DataType) -> str:
    """The type DuckDB reads a Parquet column of this arrow type as (its canonical name).

    >>> duckdb_type(pa.list_(pa.float64()))
    'DOUBLE[]'
    """
    if pa.types.is_list(arrow):
        return duckdb_type(arrow.value_type) + "[]"
    if pa.types.is_timestamp(arrow) and arrow.tz is not None:
        return "TIMESTAMP WITH TIME ZONE"
    for check, name in ((pa.types.is_string, "VARCHAR"), (pa.types.is_int64, "BIGINT"),
                        (pa.types.is_int32, "INTEGER"),
                        (pa.types.is_float64, "DOUBLE"), (pa.types.is_boolean, "BOOLEAN")):
        if check(arrow):
            return name
    raise TypeError(f"no DuckDB type declared for arrow type {arrow}")


@dataclass(frozen=True)
class LakeColumn:
    name: str
    type: pa.DataType
    nullable: bool
    description: str

    @property
    def duckdb_type(self) -> str:
        return duckdb_type(self.type)

    @property
    def field(self) -> pa.Field:
        return pa.field(self.name, self.type, nullable=self.nullable)


_S, _F = pa.string(), pa.float64()

#: The columns every lake row has, in file order (the feature columns follow).
TRANSACTION_COLUMNS: tuple[LakeColumn, ...] = (
    LakeColumn("transaction_id", _S, False, "the event's id; each appears once in the lake view"),
    LakeColumn("event_type", _S, False, "core.contract.EventType value"),
    LakeColumn("occurred_at", UTC_MICROS, False, "when the transaction happened (event time)"),
    LakeColumn("amount_minor", pa.int64(), False, "amount in the currency's minor units"),
    LakeColumn("currency", _S, False, "ISO 4217 code"),
    LakeColumn("account_id", _S, False, "the customer account (payer of a transfer)"),
    LakeColumn("counterparty_account_id", _S, True, "the other account of a P2P transfer"),
    LakeColumn("merchant_id", _S, True, "the merchant, for card and merchant payments"),
    LakeColumn("card_token", _S, True, "tokenised card, for card events"),
    LakeColumn("device_id", _S, True, "the device the event came from"),
    LakeColumn("country", _S, False, "ISO 3166 alpha-2 country of the event"),
    LakeColumn("channel", _S, False, "core.contract.Channel value"),
    LakeColumn("mcc", _S, True, "ISO 18245 merchant category code"),
    LakeColumn("ip_address", _S, True, "the client's IP address"),
    LakeColumn("target_currency", _S, True, "fx_conversion: the currency bought"),
    LakeColumn("target_amount_minor", pa.int64(), True, "fx_conversion: the amount bought"),
    LakeColumn("fee_minor", pa.int64(), True, "the fee charged, in minor units"),
    LakeColumn("original_transaction_id", _S, True,
               "refunds, reversals and voids: the transaction they undo"),
    LakeColumn("score", _F, False, "the champion's fraud score in [0, 1]"),
    LakeColumn("score_supervised", _F, True, "the supervised member's score (NULL: none)"),
    LakeColumn("score_anomaly", _F, True, "the anomaly member's score (NULL: none)"),
    LakeColumn("reason_codes", pa.list_(_S), True, "alerts: 'feature:+contribution', top first"),
    LakeColumn("model_version", _S, False, "'name/version' of the champion that scored the row"),
    LakeColumn("is_alert", pa.bool_(), False, "score >= the champion's own alert threshold"),
    LakeColumn("shadow_score", _F, True, "the challenger's score, scored in shadow"),
    LakeColumn("shadow_model_version", _S, True, "'name/version' of the shadow challenger"),
    LakeColumn("ledger_status", _S, False, "the ledger's decision: posted or rejected"),
    LakeColumn("ledger_reason", _S, True, "why the ledger rejected it"),
    LakeColumn("source_partition", pa.int32(), True,
               "the partition of topic transactions it was read from"),
    LakeColumn("source_offset", pa.int64(), True,
               "its offset there: with processed_at, the order features applied it"),
    LakeColumn("processed_at", UTC_MICROS, False, "when the worker scored its batch"),
)


#: The lake's label row (``lake/labels``): every fraud label the stream applied — an analyst's
#: decision, an upstream chargeback — once per ``label_id``.
LABEL_COLUMNS: tuple[LakeColumn, ...] = (
    LakeColumn("label_id", _S, False, "the label's idempotency key"),
    LakeColumn("labelled_transaction_id", _S, False, "the transaction it labels"),
    LakeColumn("account_id", _S, False, "that transaction's account"),
    LakeColumn("merchant_id", _S, True, "that transaction's merchant"),
    LakeColumn("transaction_occurred_at", UTC_MICROS, False, "when the transaction happened"),
    LakeColumn("occurred_at", UTC_MICROS, False, "when the label became known"),
    LakeColumn("is_fraud", pa.bool_(), False, "fraud (true) or cleared (false)"),
    LakeColumn("source", _S, False, "analyst, chargeback or simulator"),
    LakeColumn("processed_at", UTC_MICROS, False, "when the worker applied it"),
)
LABEL_SCHEMA = pa.schema([c.field for c in LABEL_COLUMNS])


def feature_column(feature: str) -> LakeColumn:
    """A stateful feature's value as the stream computed it; NaN where it does not apply."""
    return LakeColumn(FEATURE_PREFIX + feature, _F, False, f"stream value of feature {feature}")


def transaction_columns(feature_names: Iterable[str] = ()) -> tuple[LakeColumn, ...]:
    return TRANSACTION_COLUMNS + tuple(feature_column(f) for f in feature_names)


def transaction_schema(feature_names: Iterable[str] = ()) -> pa.Schema:
    """The arrow schema of a lake file (the sink writes exactly this)."""
    return pa.schema([c.field for c in transaction_columns(feature_names)])


def column(name: str) -> LakeColumn:
    return _BY_NAME[name]


def check_row(row: Mapping[str, object], expected: AbstractSet[str]) -> None:
    """Raise ``ValueError`` unless ``row`` has exactly the columns ``expected``."""
    if row.keys() != expected:
        missing, extra = sorted(expected - row.keys()), sorted(row.keys() - expected)
        raise ValueError(f"lake row {row.get('transaction_id')!r} does not match the lake "
                         f"schema: missing {missing}, undeclared {extra}")


_BY_NAME = {c.name: c for c in TRANSACTION_COLUMNS}
