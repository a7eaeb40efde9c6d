"""Rows under construction: the working frame every generator returns, and its final form.

Generators build *blocks*: polars frames with the canonical event columns except that time is
``occurred_us`` (integer microseconds) and transactions are numbered by ``key`` (an integer;
``original_key`` points at another row), plus ``is_fraud``, ``pattern`` and ``case_id`` (one
typology instance). :func:`finalize` turns keys into transaction ids and times into datetimes.

>>> import numpy as np
>>> from simulator.profiles import build_world
>>> scene = Scene(build_world(1, 5, 3), np.random.default_rng(0), 0, 10**12)
>>> b = block(scene, occurred_us=np.array([5, 7]), event_type="top_up", amount_minor=100,
...           currency="EUR", account_id=np.array(["a", "b"]), country="DE", channel="api")
>>> finalize(b, seed=1).select("transaction_id", "amount_minor", "is_fraud").rows()
[('tx-1.000000000', 100, False), ('tx-1.000000001', 100, False)]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from core.frames import EVENT_SCHEMA
from simulator.profiles import World

BLOCK_SCHEMA: dict[str, pl.DataType] = {
    "key": pl.Int64(), "original_key": pl.Int64(), "occurred_us": pl.Int64(),
    **{k: v for k, v in EVENT_SCHEMA.items()
       if k not in ("transaction_id", "occurred_at", "original_transaction_id")},
    "is_fraud": pl.Boolean(), "pattern": pl.String(), "case_id": pl.Int64(),
}
#: The simulator's output columns: the canonical event frame plus the truth.
HISTORY_SCHEMA: dict[str, pl.DataType] = {
    **EVENT_SCHEMA, "is_fraud": pl.Boolean(), "pattern": pl.String()}


@dataclass
class Scene:
    """What every generator draws from: the world, the random stream and the time window."""

    world: World
    rng: np.random.Generator
    start_us: int
    end_us: int
    next_key: int = 0
    next_case: int = 0

    def keys(self, n: int) -> np.ndarray:
        out = np.arange(self.next_key, self.next_key + n, dtype=np.int64)
        self.next_key += n
        return out

    def cases(self, n: int) -> np.ndarray:
        out = np.arange(self.next_case, self.next_case + n, dtype=np.int64)
        self.next_case += n
        return out


def masked(mask: np.ndarray, values: object) -> pl.Series:
    """``values`` where ``mask`` holds, null elsewhere (values: an array or a scalar).

    >>> masked(np.array([True, False]), np.array([3, 4])).to_list()
    [3, None]
    """
    frame = pl.DataFrame({"mask": mask})
    then = pl.lit(pl.Series(values)) if isinstance(values, np.ndarray | pl.Series) else \
        pl.lit(values)
    if isinstance(values, np.ndarray | pl.Series):
        frame = frame.with_columns(value=pl.Series(values))
        then = pl.col("value")
    return frame.select(pl.when(pl.col("mask")).then(then).alias("masked")).to_series()


def take(labels: np.ndarray | pl.Series, index: np.ndarray) -> pl.Series:
    """``labels[index]`` as a polars Series (fast for strings, unlike numpy's). A few rows of a
    large world's array are picked in numpy first: converting the whole array to polars costs
    more than the pick (a live window needs a few hundred of a hundred thousand customers)."""
    if isinstance(labels, np.ndarray) and len(index) * 8 < len(labels):
        return pl.Series(labels[np.asarray(index, dtype=np.int64)])
    return pl.Series(labels).gather(index)


def choose(mask: np.ndarray, when_true: object, otherwise: object) -> pl.Series:
    """Element-wise ``when_true if mask else otherwise`` for Series or scalars.

    >>> choose(np.array([True, False]), pl.Series(["a", "b"]), "z").to_list()
    ['a', 'z']
    """
    def lit(value: object) -> pl.Expr:
        return pl.lit(pl.Series(value)) if isinstance(value, np.ndarray) else pl.lit(value)
    return pl.select(pl.when(pl.lit(pl.Series(mask))).then(lit(when_true))
                     .otherwise(lit(otherwise)).alias("chosen")).to_series()


def _series(name: str, value: object, n: int, dtype: pl.DataType) -> pl.Series:
    if isinstance(value, pl.Series):
        return value.alias(name).cast(dtype)
    if isinstance(value, np.ndarray):
        return pl.Series(name, value).cast(dtype)
    return pl.repeat(value, n, dtype=dtype, eager=True).alias(name)


def block(scene: Scene, *, occurred_us: np.ndarray, keys: np.ndarray | None = None,
          is_fraud: bool = False, pattern: str | None = None,
          case_id: np.ndarray | int | None = None, **columns: object) -> pl.DataFrame:
    """A block of ``len(occurred_us)`` rows; scalars broadcast, missing columns are null."""
    n = len(occurred_us)
    values: dict[str, object] = {
        "key": scene.keys(n) if keys is None else keys, "occurred_us": occurred_us,
        "is_fraud": is_fraud, "pattern": pattern, "case_id": case_id, **columns}
    unknown = set(values) - set(BLOCK_SCHEMA)
    if unknown:
        raise TypeError(f"unknown block columns: {sorted(unknown)}")
    return pl.DataFrame([_series(name, values.get(name), n, dtype)
                         for name, dtype in BLOCK_SCHEMA.items()])


def empty_block() -> pl.DataFrame:
    return pl.DataFrame(schema=BLOCK_SCHEMA)


def concat(blocks: list[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat([empty_block(), *blocks], how="vertical")


def transaction_ids(keys: pl.Expr, seed: int | str) -> pl.Expr:
    """``tx-<seed>.<key, 9 digits>``; the dot keeps digit runs short of a card number's.
    ``seed`` may carry a run tag (``11-mkq3z``): a live run's ids never repeat an earlier's."""
    return pl.format("tx-{}.{}", pl.lit(str(seed)), keys.cast(pl.String).str.zfill(9))


def finalize(rows: pl.DataFrame, seed: int | str) -> pl.DataFrame:
    """Working rows → canonical history columns, sorted by time (top-ups first, then key)."""
    return (
        rows.sort(pl.col("occurred_us"), pl.col("event_type") != "top_up", pl.col("key"))
        .with_columns(
            transaction_id=transaction_ids(pl.col("key"), seed),
            original_transaction_id=pl.when(pl.col("original_key").is_not_null())
            .then(transaction_ids(pl.col("original_key"), seed)),
            occurred_at=pl.col("occurred_us").cast(pl.Datetime("us", "UTC")),
        )
        .select(list(HISTORY_SCHEMA))
        .cast(HISTORY_SCHEMA)  # type: ignore[arg-type]
    )
