"""The lake's aggregates, declared once: what the sink writes per batch, what the compactor
merges, what the dashboards query instead of raw rows.

One table, ``lake/aggregates/dt=YYYY-MM-DD/part-*.parquet``, holds every *cube*: a row is one
group of one cube, its dimension columns set (the other cubes' dimensions NULL) and additive
measures. One table rather than one per cube so a batch adds one file, not six; compacted files
are sorted by ``cube`` so a query for one cube reads only its row groups.

| cube | dimensions | rows counted |
|---|---|---|
| ``minute`` | ``minute`` (event time, UTC), ``currency`` | every row |
| ``account`` | ``account_id``, ``currency`` | every row |
| ``merchant`` | ``merchant_id``, ``currency`` | rows with a merchant |
| ``model_version`` | ``model_version``, ``score_bin`` | every row |
| ``alert_source`` | ``alert_source``, ``model_version`` | alerting rows, once per source |
| ``lag`` | ``lag_bucket`` (event → processed, 10·log10 seconds) | every row |
| ``edges`` | ``account_id``, ``counterparty_account_id``, ``merchant_id``, ``currency`` | paid |
| ``rejection`` | ``reason_kind`` (:mod:`core.ledger_reasons`) | the ledger rejected |

The ``edges`` cube is who paid whom: the case page's counterparty network reads it two hops out
instead of the raw rows (the busiest bench account has 848k rows to group; its edges are a few
thousand). Files written before the cube lack the ``counterparty_account_id`` column: readers
take the union by name (:func:`conform` in merges), and their rows are not in the cube until
rewritten.

The ``rejection`` cube is the Ledger page's rejections by kind of reason: its ``last_reason``
is the ledger's words for the group's latest row (the other cubes leave it NULL), so the page
reads a handful of groups instead of the rejected rows of the whole lake. Files written before
it lack the cube; its total then falls short of the ``minute`` cube's ``rejected``, which is how
a reader knows to read the rows instead (``dashboards/ledger_health.py``).

*Order.* Rows are sorted by cube, then account, then the other dimensions
(:data:`SORT_ORDER`): an account's groups of the ``account`` and ``edges`` cubes are then
adjacent, in one or two row groups of a file, which Parquet statistics and the compactor's bloom
filters (on ``account_id`` and ``counterparty_account_id``) let a reader of one account find.

Measures add up (``transactions``, ``alerts``, ``rejected``, ``amount_minor``, ``score_sum``)
or take the maximum (``score_max``, ``last_occurred_at``, ``last_processed_at``), and
``last_reason`` is the part's with the latest ``last_occurred_at`` (equal times: the greatest
text), so the aggregate of a union is the :func:`merge` of the parts' aggregates: that is
what lets the sink aggregate each batch and the compactor and the dashboards add them up.

Alert sources: today an alert is the model's (``is_alert``), source ``model`` with the model
version as detail. Rules or AML scenarios that raise their own alerts add a source in
:func:`_alert_rows`; nothing else changes.

>>> import pyarrow as pa
>>> from datetime import UTC, datetime
>>> t = datetime(2026, 5, 1, 12, 0, 30, tzinfo=UTC)
>>> rows = pa.Table.from_pylist([dict(occurred_at=t, processed_at=t, currency="EUR",
...     account_id="a", merchant_id=None, model_version="m/1", score=0.9, is_alert=True,
...     ledger_status="posted", amount_minor=150)])
>>> agg = aggregate(rows)
>>> sorted(agg.column("cube").to_pylist())
['account', 'alert_source', 'lag', 'minute', 'model_version']
>>> [r["amount_minor"] for r in merge([agg, agg]).to_pylist() if r["cube"] == "minute"]
[300]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from core.lake_schema import UTC_MICROS, LakeColumn
from core.ledger_reasons import kind_expr

SCORE_BINS = 20
#: Lag buckets are tenths of a decade: bucket b holds lags up to 10 ** (b / 10) seconds (±26 %).
LAG_BUCKETS_PER_DECADE = 10
#: Lags below this (clock skew, same-millisecond processing) fall in its bucket.
MIN_LAG_SECONDS = 0.001

_S, _I64, _F = pa.string(), pa.int64(), pa.float64()

#: Dimension columns, in file order; each cube sets the ones :data:`CUBES` names.
DIMENSIONS: tuple[LakeColumn, ...] = (
    LakeColumn("minute", UTC_MICROS, True, "event-time minute (UTC) of the rows"),
    LakeColumn("currency", _S, True, "ISO 4217 code of amount_minor"),
    LakeColumn("account_id", _S, True, "the customer account"),
    LakeColumn("merchant_id", _S, True, "the merchant"),
    LakeColumn("model_version", _S, True, "the champion that scored the rows"),
    LakeColumn("alert_source", _S, True, "what raised the alerts: model (rules/AML later)"),
    LakeColumn("score_bin", pa.int32(), True, f"floor(score * {SCORE_BINS}), at most "
                                               f"{SCORE_BINS - 1}"),
    LakeColumn("lag_bucket", pa.int32(), True, "round(10 * log10(seconds from event to "
                                                "processing)), lags under 1 ms as 1 ms"),
    LakeColumn("counterparty_account_id", _S, True, "the payee account of a transfer"),
    LakeColumn("reason_kind", _S, True, "kind of the ledger's rejection reason "
                                         "(core.ledger_reasons.kind_of)"),
)

MEASURES: tuple[LakeColumn, ...] = (
    LakeColumn("transactions", _I64, False, "rows in the group"),
    LakeColumn("alerts", _I64, False, "of which alerting"),
    LakeColumn("rejected", _I64, False, "of which the ledger rejected"),
    LakeColumn("amount_minor", _I64, False, "sum of amounts, minor units of currency "
                                            "(mixed currencies where the cube has none)"),
    LakeColumn("score_sum", _F, False, "sum of scores (mean = score_sum / transactions)"),
    LakeColumn("score_max", _F, True, "highest score"),
    LakeColumn("last_occurred_at", UTC_MICROS, True, "latest event time"),
    LakeColumn("last_processed_at", UTC_MICROS, True, "latest processing time"),
    LakeColumn("last_reason", _S, True, "the ledger's reason of the latest row (by event "
                                         "time, then text; rejection cube only)"),
)

AGGREGATE_COLUMNS: tuple[LakeColumn, ...] = (
    LakeColumn("cube", _S, False, "which cube the row belongs to"), *DIMENSIONS, *MEASURES)

CUBES: dict[str, tuple[str, ...]] = {
    "minute": ("minute", "currency"),
    "account": ("account_id", "currency"),
    "merchant": ("merchant_id", "currency"),
    "model_version": ("model_version", "score_bin"),
    "alert_source": ("alert_source", "model_version"),
    "lag": ("lag_bucket",),
    "edges": ("account_id", "counterparty_account_id", "merchant_id", "currency"),
    "rejection": ("reason_kind",),
}

_SUMS = ("transactions", "alerts", "rejected", "amount_minor", "score_sum")
_MAXES = ("score_max", "last_occurred_at", "last_processed_at")
_GROUP = ("cube", *(d.name for d in DIMENSIONS))
#: File order: cube, then account (see the module doc), then the other dimensions.
SORT_ORDER = ("cube", "account_id", "counterparty_account_id", "merchant_id",
              *(d.name for d in DIMENSIONS if d.name not in
                ("account_id", "counterparty_account_id", "merchant_id")))


def aggregate_schema() -> pa.Schema:
    return pa.schema([c.field for c in AGGREGATE_COLUMNS])


def lag_seconds(bucket: int) -> float:
    """The upper bound of a lag bucket, in seconds."""
    return 10 ** (bucket / LAG_BUCKETS_PER_DECADE)


def _measures() -> list[pl.Expr]:
    return [
        pl.len().cast(pl.Int64).alias("transactions"),
        pl.col("_alert").sum().cast(pl.Int64).alias("alerts"),
        pl.col("_rejected").sum().cast(pl.Int64).alias("rejected"),
        pl.col("amount_minor").sum().cast(pl.Int64).alias("amount_minor"),
        pl.col("score").sum().cast(pl.Float64).alias("score_sum"),
        pl.col("score").max().alias("score_max"),
        pl.col("occurred_at").max().alias("last_occurred_at"),
        pl.col("processed_at").max().alias("last_processed_at"),
    ]


def _alert_rows(base: pl.DataFrame) -> pl.DataFrame:
    """One row per (alerting transaction, source that raised it)."""
    return base.filter(pl.col("_alert") == 1).with_columns(alert_source=pl.lit("model"))


#: The lake columns the cubes read.
SOURCE_COLUMNS = ("occurred_at", "processed_at", "currency", "account_id", "merchant_id",
                  "counterparty_account_id", "model_version", "amount_minor", "score",
                  "is_alert", "ledger_status", "ledger_reason")


def aggregate(rows: pa.Table | pl.DataFrame) -> pa.Table:
    """Every cube of ``rows`` (lake rows, :mod:`core.lake_schema`), as one aggregate table."""
    if isinstance(rows, pa.Table):
        rows = rows.select([c for c in SOURCE_COLUMNS  # not the ~90 feature columns
                            if c in rows.schema.names])
    df = rows if isinstance(rows, pl.DataFrame) else pl.from_arrow(rows)
    assert isinstance(df, pl.DataFrame)
    lag = ((pl.col("processed_at") - pl.col("occurred_at")).dt.total_microseconds() / 1e6)
    for optional in ("counterparty_account_id", "ledger_reason"):
        if optional not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.String).alias(optional))
    base = df.select(
        "occurred_at", "processed_at", "currency", "account_id", "merchant_id",
        "counterparty_account_id", "model_version", "amount_minor", "score", "ledger_reason",
        minute=pl.col("occurred_at").dt.truncate("1m"),
        score_bin=(pl.col("score") * SCORE_BINS).floor().clip(0, SCORE_BINS - 1)
        .cast(pl.Int32),
        lag_bucket=(pl.max_horizontal(lag, pl.lit(MIN_LAG_SECONDS)).log10()
                    * LAG_BUCKETS_PER_DECADE).round().cast(pl.Int32),
        _alert=pl.col("is_alert").cast(pl.Int64),
        _rejected=(pl.col("ledger_status") == "rejected").cast(pl.Int64),
    )
    sources = {"merchant": base.filter(pl.col("merchant_id").is_not_null()),
               "alert_source": _alert_rows(base),
               "edges": base.filter(pl.col("counterparty_account_id").is_not_null()
                                    | pl.col("merchant_id").is_not_null())}
    frames = [sources.get(cube, base).group_by(list(dims)).agg(_measures())
              .with_columns(cube=pl.lit(cube)) for cube, dims in CUBES.items()
              if cube != "rejection"]
    rejected = base.filter(pl.col("_rejected") == 1).with_columns(
        reason_kind=kind_expr(pl.col("ledger_reason")))
    frames.append(rejected.group_by("reason_kind").agg(
        *_measures(),
        pl.col("ledger_reason").sort_by(["occurred_at", "ledger_reason"], nulls_last=False)
        .last().alias("last_reason")).with_columns(cube=pl.lit("rejection")))
    return _to_arrow(pl.concat(frames, how="diagonal_relaxed"))


def merge(parts: Iterable[pa.Table]) -> pa.Table:
    """The aggregate of the union of the rows ``parts`` aggregate (sums add, maxima max)."""
    tables = [conform(t) for t in parts if t.num_rows]
    if not tables:
        return aggregate_schema().empty_table()
    con = duckdb.connect(":memory:")
    try:
        con.register("parts", pa.concat_tables(tables))
        return _merged(con, "parts")
    finally:
        con.close()


def merge_files(paths: Sequence[Path | str]) -> pa.Table:
    """:func:`merge` of aggregate files, read by DuckDB straight from Parquet (a roll-up of a
    month merges millions of groups: reading them into Arrow first costs as much again)."""
    if not paths:
        return aggregate_schema().empty_table()
    present = {name for p in paths for name in pq.read_schema(p).names}
    files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
    columns = ", ".join(c.name if c.name in present else f"NULL::{c.duckdb_type} AS {c.name}"
                        for c in AGGREGATE_COLUMNS)
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"""CREATE VIEW parts AS SELECT {columns} FROM read_parquet([{files}],
                        union_by_name = true, hive_partitioning = false)""")  # noqa: S608
        return _merged(con, "parts")
    finally:
        con.close()


def _merged(con: duckdb.DuckDBPyConnection, source: str) -> pa.Table:
    """One group per distinct dimensions of ``source`` (an aggregate table), in
    :data:`SORT_ORDER`: DuckDB's grouping and sort run on every core, several times faster
    than one polars pass over a month's groups."""
    measures = ([f"sum({c})::BIGINT AS {c}" for c in _SUMS if c != "score_sum"]
                + ["sum(score_sum)::DOUBLE AS score_sum"]
                + [f"max({c}) AS {c}" for c in _MAXES]
                # The latest row's words; equal times: the greatest text, as aggregate() does.
                + ["arg_max(last_reason, (last_occurred_at, last_reason)) "
                   "FILTER (WHERE last_reason IS NOT NULL) AS last_reason"])
    order = ", ".join(f"{c} NULLS LAST" for c in SORT_ORDER)
    table = con.sql(f"""SELECT {", ".join(_GROUP)}, {", ".join(measures)} FROM {source}
                        GROUP BY ALL ORDER BY {order}""").arrow()  # noqa: S608 — names only
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    return table.select([c.name for c in AGGREGATE_COLUMNS]).cast(aggregate_schema())


def conform(table: pa.Table) -> pa.Table:
    """An aggregate table in today's schema: a dimension added since it was written reads as
    NULL (its rows are in none of the new dimension's cubes)."""
    schema = aggregate_schema()
    for field in schema:
        if field.name not in table.schema.names:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table.select(schema.names).cast(schema)


def _to_arrow(df: pl.DataFrame) -> pa.Table:
    schema = aggregate_schema()
    for c in AGGREGATE_COLUMNS:
        if c.name not in df.columns:
            df = df.with_columns(pl.lit(None).alias(c.name))
    ordered = df.select([c.name for c in AGGREGATE_COLUMNS]).sort(list(SORT_ORDER),
                                                                   nulls_last=True)
    return ordered.to_arrow().cast(schema)


def median_lag_seconds(buckets: Iterable[tuple[int, int]]) -> float:
    """The median lag from ``(lag_bucket, transactions)`` pairs: the upper bound of the bucket
    holding the middle row (0 when there are none)."""
    pairs = sorted(buckets)
    total = sum(n for _, n in pairs)
    seen = 0
    for bucket, n in pairs:
        seen += n
        if seen * 2 >= total and total:
            return lag_seconds(bucket)
    return 0.0

