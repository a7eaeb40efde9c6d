"""Array machinery of the offline builder: entity groups sorted by arrival with their clocks,
window bounds by sorted search, prefix sums, range maxima and 2-D dominance counts."""

from __future__ import annotations

import numpy as np
import polars as pl

from features.definitions import (
    DAY,
    FEATURES,
    US,
)

STATEFUL = tuple(f.name for f in FEATURES)
D24, D7 = DAY * US, 7 * DAY * US
ROW = "__flowlet_row__"
SEEN = "__flowlet_seen__"


class Times:
    """Distinct event times; items carry the rank of their time (or clock) in ``uniq``."""

    def __init__(self, t: np.ndarray) -> None:
        self.uniq, self.rank = np.unique(t, return_inverse=True)
        self.rank = self.rank.astype(np.int64)
        self.m = len(self.uniq) + 1  # key multiplier: segment * m + rank
        self._tables: dict[tuple[str, int], np.ndarray] = {}

    def n_shifted(self, ranks: np.ndarray, offset: int, side: str) -> np.ndarray:
        """Number of distinct times ``<=`` (side "right") or ``<`` (side "left") each
        ``uniq[rank] + offset``: one sorted search per distinct time, then a lookup."""
        table = self._tables.get((side, offset))
        if table is None:
            table = self._tables[(side, offset)] = np.searchsorted(
                self.uniq, self.uniq + offset, side)  # type: ignore[call-overload]
        return table[ranks]


class Sorted:
    """Items stably sorted by group key (so by arrival within a group), with their clocks.

    ``order``: item indices in sorted order; ``seg``: group number per sorted position;
    ``cr``: clock rank per sorted position; ``key = seg * m + cr`` (globally sorted)."""

    def __init__(self, times: Times, group: np.ndarray, cr: np.ndarray) -> None:
        self.times = times
        self.order = np.argsort(group, kind="stable")
        g = group[self.order]
        start = np.ones(len(g), dtype=bool)
        start[1:] = g[1:] != g[:-1]
        self.seg = np.cumsum(start) - 1
        self.base = self.seg * times.m
        self.cr = cr[self.order]
        self.key = self.base + self.cr
        self.clock = times.uniq[self.cr]
        self.pos = np.arange(len(g))

    @classmethod
    def clocked(cls, times: Times, group: np.ndarray, trank: np.ndarray) -> Sorted:
        """Sort by group and compute each group's clock: running max of the time ranks."""
        s = cls(times, group, trank)
        s.cr = np.maximum.accumulate(s.key) - s.base
        s.key = s.base + s.cr
        s.clock = times.uniq[s.cr]
        return s

    def first_above(self, offset: int) -> np.ndarray:
        """Per sorted position i: first position of its group with clock > clock_i + offset."""
        return np.searchsorted(
            self.key, self.base + self.times.n_shifted(self.cr, offset, "right"), "left")

    def first_at_least(self, offset: int, at: np.ndarray) -> np.ndarray:
        """Per sorted position j in ``at``: first position of its group with clock >=
        clock_j + offset."""
        return np.searchsorted(
            self.key, self.base[at] + self.times.n_shifted(self.cr[at], offset, "left"), "left")

    def unsort(self, values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[self.order] = values
        return out


def range_max(a: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """max(a[lo..hi]) (inclusive) per query, sparse table built and used level by level."""
    out = np.empty(len(lo), dtype=a.dtype)
    if not len(lo):
        return out
    length = hi - lo + 1
    level = np.floor(np.log2(length)).astype(np.int64)
    # guard against float log2 rounding at powers of two
    level -= (np.left_shift(1, level) > length)
    level += (np.left_shift(1, level + 1) <= length)
    by_level = np.argsort(level.astype(np.int8), kind="stable")  # radix sort
    bounds = np.searchsorted(level[by_level], np.arange(int(level.max()) + 2), "left")
    table = a
    for k in range(int(level.max()) + 1):
        if k:
            half = 1 << (k - 1)
            table = np.maximum(table[:-half], table[half:])
        q = by_level[bounds[k]:bounds[k + 1]]
        if len(q):
            out[q] = np.maximum(table[lo[q]], table[hi[q] - (1 << k) + 1])
    return out


def prefix_sums(a: np.ndarray) -> np.ndarray:
    p = np.zeros(len(a) + 1, dtype=np.int64)
    np.cumsum(a, out=p[1:])  # int64 wraps; differences of wrapped prefixes stay exact
    return p


def dictionary_codes(*series: pl.Series, empty_is_null: bool = True) -> list[np.ndarray]:
    """One shared integer dictionary for several string columns; null → -1, and "" too unless
    ``empty_is_null`` is False (the online engine tests optional ids for truthiness)."""
    lengths = [len(s) for s in series]
    both = pl.concat([s.cast(pl.String).rename("v") for s in series])
    code = pl.col("v").cast(pl.Categorical).to_physical().rank("dense").cast(pl.Int64)
    if empty_is_null:
        code = pl.when(pl.col("v").str.len_bytes() > 0).then(code)
    codes = both.to_frame().select(code.fill_null(0) - 1).to_series().to_numpy()
    out, at = [], 0
    for n in lengths:
        out.append(codes[at:at + n].copy())
        at += n
    return out


def combine(*codes: np.ndarray) -> np.ndarray:
    """Lexicographic composite key of non-negative codes (fits int64 for realistic sizes)."""
    key = codes[0].astype(np.int64)
    for c in codes[1:]:
        key = key * (int(c.max(initial=0)) + 1) + c
    return key


class Out(dict[str, np.ndarray]):
    """Feature arrays by name, in row order; NaN wherever nothing was put."""

    def __init__(self, n: int, names: tuple[str, ...] = STATEFUL) -> None:
        super().__init__()
        self.n = n
        self.names = names

    def put(self, name: str, rows: np.ndarray | None, values: np.ndarray,
            every_row: bool = False) -> None:
        """``values[i]`` is the value of row ``rows[i]`` (``rows`` None: of row i);
        ``every_row``: ``rows`` is a permutation of all rows (no NaN fill needed)."""
        if rows is None:
            self[name] = np.asarray(values, dtype=np.float64)
            return
        arr = self.get(name)
        if arr is None:
            arr = self[name] = np.empty(self.n) if every_row else np.full(self.n, np.nan)
        arr[rows] = values

    def complete(self) -> Out:
        for name in self.names:
            if name not in self:
                self[name] = np.full(self.n, np.nan)
        return self



def dominance(px: np.ndarray, py: np.ndarray, qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    """For each query, the number of points with ``px <= qx`` and ``py <= qy``.

    Merge-sort tree over the points in x order: the prefix of points with ``px <= qx`` splits
    into at most log2(P) aligned blocks, each sorted by y and searched with ``searchsorted``."""
    res = np.zeros(len(qx), dtype=np.int64)
    p = len(px)
    if not p or not len(qx):
        return res
    o = np.argsort(px, kind="stable")
    xs, ys = px[o], py[o]
    k = np.searchsorted(xs, qx, "right")
    ymul = int(max(ys.max(), qy.max(initial=0))) + 2
    qy = np.clip(qy, -1, None) + 1  # shift so keys stay non-negative
    pos = np.arange(p)
    level = 0
    while (1 << level) <= p:
        size = 1 << level
        block = pos >> level
        keys = np.sort(block * ymul + ys + 1)
        q = np.flatnonzero(k & size)
        if len(q):
            b = (k[q] >> level) - 1
            res[q] += np.searchsorted(keys, b * ymul + qy[q], "right") - b * size
        level += 1
    return res


def micros(expr: pl.Expr) -> pl.Expr:
    return expr.dt.epoch("us")


# --------------------------------------------------------------------------------------------
# The builder
# --------------------------------------------------------------------------------------------
