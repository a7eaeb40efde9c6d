"""Offline, point-in-time-correct feature computation over event history.

Produces, for every event, the vector the stream produced (or would have) when it processed
that event: window aggregates only see events up to and including it, in event-time order.
"""

from __future__ import annotations

import polars as pl

from features.definitions import FEATURE_NAMES, WINDOW_FEATURES
from features.online import with_event_features


def build_features(events: pl.DataFrame) -> pl.DataFrame:
    """Events (canonical columns, any extra columns kept) -> events plus one column per feature.

    Duplicated ``transaction_id`` rows are dropped (first kept), as the stream drops them.
    """
    df = (
        events.unique(subset="transaction_id", keep="first", maintain_order=True)
        .with_row_index("_arrival")
        .sort(["occurred_at", "_arrival"])
    )
    epoch = pl.col("occurred_at").dt.epoch("s")
    exprs = []
    for f in WINDOW_FEATURES:
        keys = [pl.col(f.entity_column), (epoch // f.window_seconds).alias("_b")]
        if f.per_currency:
            keys.append(pl.col("currency"))
        if f.agg == "count":
            running = (pl.int_range(pl.len()) + 1).cast(pl.Float64)
        else:
            running = pl.col("amount_minor").cast(pl.Float64).cum_sum()
        exprs.append(running.over(keys).alias(f.name))
    df = with_event_features(df.with_columns(exprs))
    return df.drop("_arrival")


def feature_matrix(features: pl.DataFrame) -> pl.DataFrame:
    """Just the model inputs, in declaration order."""
    return features.select(FEATURE_NAMES)
