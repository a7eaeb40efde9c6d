"""Offline, point-in-time-correct feature computation over event history.

:func:`build_features` computes every declared feature for every event of a history at once,
vectorised (polars + numpy, no per-event Python). It implements the semantics of
``features.definitions`` independently of the online engine (``features.online``); the parity
tests (``tests/features/test_offline.py``) hold the two equal event by event.

How each aggregation is computed (n events, all steps O(n log n)):

* **Arrival order and clocks.** Arrival order is the row order of ``events``. Every entity's
  records are stably sorted by (entity, arrival); the entity's clock is a running maximum of
  the event times, computed for all entities in one ``np.maximum.accumulate`` over
  ``segment * U + rank(time)`` (U distinct times), which is then also a globally sorted key.
* **Windows** ``(clock − w, clock]``: clocks are non-decreasing within an entity, so a window is
  a contiguous run ``[lo, i]`` of the entity's (or entity-and-currency's) records; ``lo`` for
  all records comes from one ``np.searchsorted`` on that sorted key. Counts are ``i − lo + 1``,
  sums exact differences of int64 prefix sums (wrapping arithmetic keeps differences exact),
  maxima a sparse table (range-maximum query on ``[lo, i]``) built one level at a time.
* **Distinct counts** (accounts on a device, counterparties, senders): an occurrence of a value
  at position j is the value's latest occurrence for the records ``[j, next occurrence)`` and is
  inside their window while their clock is ``< clock_j + w``; it therefore counts for one
  contiguous run of positions — a difference array and a cumulative sum give every count.
* **First seen**: the previous occurrence of (account, value) in arrival order, via a sort.
* **z-score / ratio to mean**: per (account, currency) float running n / sum / sum of squares
  (polars ``cum_sum``, sequential like the online additions), shifted to exclude the event.
* **Local night / weekend**: home = country of the account's first row; times converted with
  polars ``convert_time_zone``, one pass per distinct zone.
* **P2P network node**: every event is an "own" leg of its account's node, a P2P transfer also
  an "in" leg of the payee's node (after the own leg: a self-transfer's own leg comes first);
  legs are ordered by (row, leg) and run through the same window machinery.
* **Delayed-label fraud rate**: transactions counted are the merchant's records with clock in
  ``(clock − 37d, clock − 7d]``; frauds are labelled transactions of the merchant whose latest
  label known at the event says fraud and whose *placed* time is in that range. A label is
  known at event e iff ``label.occurred_at <= e.occurred_at`` (e's own time, not the clock); per
  labelled transaction the latest known label wins (by ``occurred_at``, then row order). A label
  is placed at the merchant-clock time its transaction was counted at if that transaction's row
  arrived before the label — every row up to it is earlier than ``label.occurred_at`` (labels
  arrive as in :func:`replay_order`) — else at its ``transaction_occurred_at``, as the online
  engine places it. Each fraud label version is valid on a known-time interval ``[occurred_at,
  next version's occurred_at)``, so an event's count is a difference of 2-D dominance counts
  (known time ≤ t; (merchant, placed time) in a range), answered with a merge-sort tree and
  ``np.searchsorted``.

Duplicates: the online engine answers a redelivered ``transaction_id`` with its first result and
does not apply it again, so the builder drops every later row with an already seen
``transaction_id`` (keeps the first) before computing anything.

Labels and the online engine: :func:`replay_order` gives the merged sequence (events in row
order; each label just before the first event whose time is ``>=`` its ``occurred_at``) in
which replaying through ``OnlineFeatures`` gives these values. One known divergence: online keeps
only the latest *applied* label per transaction and then requires ``occurred_at <= t``, so for a
late event (its time below an earlier row's) a relabel applied in between — known after the
event's time — hides an earlier known fraud label that the offline definition still counts.

Exactness: sums, means and pass-through ratios equal the online values while window sums stay
below 2**53 minor units (online divides exact Python integers). Label placement equals online
while a label's ``transaction_occurred_at`` is not later than its transaction's merchant clock
(true when it is the transaction's ``occurred_at``); otherwise online would depend on when its
expiry dropped the transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl

from features.definitions import (
    DAY,
    EVENT_FEATURES,
    FEATURE_NAMES,
    FEATURES,
    FIRST_SEEN_LOOKBACK,
    INFLOW_TYPES,
    LABEL_DELAY,
    LABEL_WINDOW,
    NIGHT_HOURS,
    OUTFLOW_TYPES,
    US,
    VELOCITY_WINDOWS,
    structuring_band,
)
from features.frames import EVENT_SCHEMA, with_event_features
from flowlet.contract.currencies import MINOR_UNITS
from flowlet.geo import timezone_of_country

_STATEFUL = tuple(f.name for f in FEATURES)
_VELOCITY = tuple((label, w * US) for label, w in VELOCITY_WINDOWS)
_D24, _D7 = DAY * US, 7 * DAY * US
_ROW = "__flowlet_row__"
_SEEN = "__flowlet_seen__"


# --------------------------------------------------------------------------------------------
# Sorted groups with clocks
# --------------------------------------------------------------------------------------------

class _Times:
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


class _Sorted:
    """Items stably sorted by group key (so by arrival within a group), with their clocks.

    ``order``: item indices in sorted order; ``seg``: group number per sorted position;
    ``cr``: clock rank per sorted position; ``key = seg * m + cr`` (globally sorted)."""

    def __init__(self, times: _Times, group: np.ndarray, cr: np.ndarray) -> None:
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
    def clocked(cls, times: _Times, group: np.ndarray, trank: np.ndarray) -> _Sorted:
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


def _range_max(a: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
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


def _prefix(a: np.ndarray) -> np.ndarray:
    p = np.zeros(len(a) + 1, dtype=np.int64)
    np.cumsum(a, out=p[1:])  # int64 wraps; differences of wrapped prefixes stay exact
    return p


def _codes(*series: pl.Series, empty_is_null: bool = True) -> list[np.ndarray]:
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


def _combine(*codes: np.ndarray) -> np.ndarray:
    """Lexicographic composite key of non-negative codes (fits int64 for realistic sizes)."""
    key = codes[0].astype(np.int64)
    for c in codes[1:]:
        key = key * (int(c.max(initial=0)) + 1) + c
    return key


class _Out(dict[str, np.ndarray]):
    """Feature arrays by name, in row order; NaN wherever nothing was put."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

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

    def complete(self) -> _Out:
        for name in _STATEFUL:
            if name not in self:
                self[name] = np.full(self.n, np.nan)
        return self


# --------------------------------------------------------------------------------------------
# Aggregations
# --------------------------------------------------------------------------------------------

def _velocity(out: _Out, prefix: str, items: np.ndarray | None, times: _Times,
              ent: np.ndarray, cur: np.ndarray, cr: np.ndarray, amount: np.ndarray,
              e: _Sorted | None = None) -> _Sorted | None:
    """Count (entity, all currencies) and sum/mean/max (entity and currency) per window.
    ``items``: the rows the entity arrays describe (None: every row); ``e``: the entity
    grouping if already sorted. Returns the (entity, currency) grouping."""
    if not len(ent):
        return None
    every = items is None
    e = e if e is not None else _Sorted(times, ent, cr)
    c = _Sorted(times, _combine(ent, cur), cr)
    e_rows = e.order if every else items[e.order]
    c_rows = c.order if every else items[c.order]
    a = amount[c.order]
    pre = _prefix(a)
    los = []
    for label, w in _VELOCITY:
        n = (e.pos - e.first_above(-w) + 1).astype(np.float64)
        out.put(f"{prefix}_count_{label}", e_rows, n, every)
        lo = c.first_above(-w)
        total = (pre[c.pos + 1] - pre[lo]).astype(np.float64)
        out.put(f"{prefix}_sum_{label}", c_rows, total, every)
        out.put(f"{prefix}_mean_{label}", c_rows, total / (c.pos - lo + 1), every)
        los.append(lo)
    top = _range_max(a, np.concatenate(los), np.tile(c.pos, len(los))).astype(np.float64)
    for j, (label, _) in enumerate(_VELOCITY):
        out.put(f"{prefix}_max_{label}", c_rows, top[j * len(a):(j + 1) * len(a)], every)
    return c


def _distinct(s: _Sorted, values: np.ndarray, windows: tuple[int, ...]) -> list[np.ndarray]:
    """Per sorted position of ``s``: distinct non-negative ``values`` (given per sorted position)
    among the group's positions up to it whose clock is inside ``(clock − w, clock]``."""
    m = len(values)
    js = np.flatnonzero(values >= 0)
    if not len(js):
        return [np.zeros(m) for _ in windows]
    key = _combine(s.seg[js], values[js])
    o = np.argsort(key, kind="stable")
    js, key = js[o], key[o]
    nxt = np.full(len(js), m, dtype=np.int64)
    same = key[1:] == key[:-1]
    nxt[:-1][same] = js[1:][same]
    res = []
    for w in windows:
        end = np.minimum(nxt, s.first_at_least(w, js))
        diff = np.bincount(js, minlength=m + 1) - np.bincount(end, minlength=m + 1)
        res.append(np.cumsum(diff)[:m].astype(np.float64))
    return res


def _first_seen(acct_s: _Sorted, values: np.ndarray) -> np.ndarray:
    """1.0 if the (account, value) was not seen within the lookback on the account clock, 0.0 if
    it was, NaN without a value; per sorted position of the account grouping."""
    res = np.full(len(values), np.nan)
    js = np.flatnonzero(values >= 0)
    if not len(js):
        return res
    key = _combine(acct_s.seg[js], values[js])
    o = np.argsort(key, kind="stable")
    js, key = js[o], key[o]
    clock = acct_s.clock[js]
    new = np.ones(len(js))
    same = key[1:] == key[:-1]
    seen = clock[:-1] > clock[1:] - FIRST_SEEN_LOOKBACK * US
    new[1:][same & seen] = 0.0
    res[js] = new
    return res


def _local_time(occurred: pl.Series, home: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(night, weekend) flags of each time in its account's home-country zone."""
    countries = home.cast(pl.String).fill_null("").unique().to_list()
    zones = home.cast(pl.String).fill_null("").replace_strict(
        countries, [timezone_of_country(c) for c in countries], return_dtype=pl.String)
    night = np.zeros(len(occurred))
    weekend = np.zeros(len(occurred))
    zone_arr = zones.to_numpy()
    for zone in zones.unique().to_list():
        idx = np.flatnonzero(zone_arr == zone)
        local = occurred.gather(idx).dt.convert_time_zone(zone)
        night[idx] = local.dt.hour().is_in(list(NIGHT_HOURS)).to_numpy().astype(np.float64)
        weekend[idx] = (local.dt.weekday() >= 6).to_numpy().astype(np.float64)
    return night, weekend


def _dominance(px: np.ndarray, py: np.ndarray, qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
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


def _fraud_counts(counted: pl.DataFrame, labels: pl.DataFrame, m_q: np.ndarray,
                  t_q: np.ndarray, end_q: np.ndarray) -> np.ndarray:
    """Per query (merchant code, event time, window end): labelled transactions of that merchant
    whose latest label known at the event time says fraud, placed in ``(end − 30d, end]``.

    ``counted`` (merchant_id, m, x, clock, seen) has the merchant's transactions: id, merchant
    clock and the newest event time of the history up to its row. A label version is placed at
    that clock if the transaction arrived before the label (``seen < occurred_at``), else at the
    label's ``transaction_occurred_at`` — as the online engine places it when applied."""
    lab = labels.with_row_index(_ROW).select(
        pl.col(_ROW),
        pl.col("merchant_id").cast(pl.String),
        pl.col("labelled_transaction_id").cast(pl.String).alias("x"),
        _micros(pl.col("transaction_occurred_at")).alias("tx"),
        _micros(pl.col("occurred_at")).alias("a"),
        pl.col("is_fraud").cast(pl.Boolean).fill_null(False).alias("fraud"),
    ).join(counted.select("merchant_id", "m").unique("merchant_id"), on="merchant_id",
           how="inner")
    lab = lab.join(counted.select("m", "x", "clock", "seen"), on=["m", "x"], how="left",
                   maintain_order="left")
    lab = lab.with_columns(
        pl.when(pl.col("seen") < pl.col("a")).then(pl.col("clock")).otherwise(pl.col("tx"))
        .alias("tx")).sort(["m", "x", "a", _ROW])
    big = np.iinfo(np.int64).max
    lab = lab.with_columns(pl.col("a").shift(-1).over(["m", "x"]).fill_null(big).alias("b"))
    lab = lab.filter(pl.col("fraud") & (pl.col("b") > pl.col("a")))
    if lab.height == 0:
        return np.zeros(len(m_q), dtype=np.int64)
    pm = lab["m"].to_numpy().astype(np.int64)
    ptx = lab["tx"].to_numpy()
    # y = composite (merchant, placed time) as a rank among the points' keys
    tx_uniq = np.unique(ptx)
    mul = len(tx_uniq) + 1
    pkey = pm * mul + np.searchsorted(tx_uniq, ptx, "left") + 1
    pkeys = np.sort(pkey)
    py = np.searchsorted(pkeys, pkey, "right")

    def qrank(bound: np.ndarray) -> np.ndarray:
        return np.searchsorted(pkeys, m_q * mul + np.searchsorted(tx_uniq, bound, "right"),
                               "right")

    qhi, qlo = qrank(end_q), qrank(end_q - LABEL_WINDOW * US)
    qy = np.concatenate([qhi, qlo])
    qx = np.concatenate([t_q, t_q])
    n = len(m_q)
    known = _dominance(lab["a"].to_numpy(), py, qx, qy)
    count = known[:n] - known[n:]
    finite = lab["b"].to_numpy() != big
    if finite.any():
        gone = _dominance(lab["b"].to_numpy()[finite], py[finite], qx, qy)
        count -= gone[:n] - gone[n:]
    return count


def _micros(expr: pl.Expr) -> pl.Expr:
    return expr.dt.epoch("us")


# --------------------------------------------------------------------------------------------
# The builder
# --------------------------------------------------------------------------------------------

def dedupe(events: pl.DataFrame) -> pl.DataFrame:
    """Keep the first row of every ``transaction_id`` (a redelivery changes nothing online)."""
    first = events.select(pl.col("transaction_id").is_first_distinct()).to_series()
    return events if first.all() else events.filter(first)


def build_features(events: pl.DataFrame, labels: pl.DataFrame | None = None) -> pl.DataFrame:
    """Every feature of every event, point-in-time correct, as online would compute it.

    ``events``: canonical event columns (``features.frames.EVENT_SCHEMA``), in arrival order.
    ``labels``: optional fraud labels (``labelled_transaction_id``, ``merchant_id``,
    ``transaction_occurred_at``, ``occurred_at``, ``is_fraud``). Returns the events (every
    input column, later duplicates of a ``transaction_id`` dropped, row order kept) plus one
    Float64 column per name in ``FEATURE_NAMES`` (NaN where a feature does not apply).
    """
    # newest event time of the history up to each row (duplicates included, as replayed): a
    # label arrives right before the first row at or after its time (see replay_order)
    seen = events.select(_micros(pl.col("occurred_at")).cum_max().alias(_SEEN))[_SEEN]
    frame = dedupe(events.with_columns(seen))
    work = frame.select(
        [pl.col(c) if c in frame.columns else pl.lit(None, dtype).alias(c)
         for c, dtype in EVENT_SCHEMA.items()] + [pl.col(_SEEN)]
    )
    frame = frame.drop(_SEEN)
    stateful = _stateful(work, labels)
    event_features = with_event_features(work).select(f.name for f in EVENT_FEATURES)
    result = frame.with_columns(
        *event_features.get_columns(),
        *(pl.Series(name, stateful[name], dtype=pl.Float64) for name in _STATEFUL))
    return result.select([*frame.columns, *[c for c in FEATURE_NAMES if c not in frame.columns]])


def _stateful(ev: pl.DataFrame, labels: pl.DataFrame | None) -> dict[str, np.ndarray]:
    n = ev.height
    out = _Out(n)
    if n == 0:
        return out.complete()
    t = ev.select(_micros(pl.col("occurred_at"))).to_series().to_numpy().astype(np.int64)
    amount = ev["amount_minor"].cast(pl.Int64).to_numpy()
    times = _Times(t)

    # one dictionary for payers and payees (both key the network node); "" is a key online
    acct, cp = _codes(ev["account_id"].fill_null(""), ev["counterparty_account_id"],
                      empty_is_null=False)
    cp_raw = ev["counterparty_account_id"].cast(pl.String)
    cp[(cp_raw.is_null() | (cp_raw.str.len_bytes() == 0)).to_numpy()] = -1
    (cur,) = _codes(ev["currency"])
    cur = np.maximum(cur, 0)
    (merchant,) = _codes(ev["merchant_id"])
    (device,) = _codes(ev["device_id"])
    (card,) = _codes(ev["card_token"])
    (country,) = _codes(ev["country"])
    etype = ev["event_type"].cast(pl.String)
    p2p = ((etype == "p2p_transfer").to_numpy() & (cp >= 0))

    # ---- account stage ----------------------------------------------------------------------
    acct_s = _Sorted.clocked(times, acct, times.rank)
    cr = acct_s.unsort(acct_s.cr)  # account clock rank per row
    acct_cur = _velocity(out, "acct", None, times, acct, cur, cr, amount, acct_s)

    first = np.ones(n, dtype=bool)
    first[1:] = acct_s.seg[1:] != acct_s.seg[:-1]
    since = np.full(n, np.nan)
    since[~first] = (acct_s.clock[~first] - acct_s.clock[np.flatnonzero(~first) - 1]) / US
    out.put("acct_seconds_since_prev", acct_s.order, since, True)
    assert acct_cur is not None
    _behaviour(out, acct_cur, amount)
    for attr, codes in (("merchant", merchant), ("device", device), ("country", country)):
        out.put(f"acct_new_{attr}", acct_s.order, _first_seen(acct_s, codes[acct_s.order]), True)

    home = ev.select(pl.col("country").first().over(pl.col("account_id").fill_null("")))
    night, weekend = _local_time(ev["occurred_at"], home.to_series())
    out.put("acct_local_night", None, night)
    out.put("acct_local_weekend", None, weekend)

    band = _band_flags(ev["currency"], amount)
    pre = _prefix(band[acct_s.order])
    for label, w in (("24h", _D24), ("7d", _D7)):
        lo = acct_s.first_above(-w)
        out.put(f"acct_structuring_count_{label}", acct_s.order,
                (pre[acct_s.pos + 1] - pre[lo]).astype(np.float64), True)

    cp_out = np.where(p2p, cp, -1)[acct_s.order]
    for label, res in zip(("24h", "7d"), _distinct(acct_s, cp_out, (_D24, _D7)), strict=True):
        out.put(f"acct_distinct_cp_out_{label}", acct_s.order, res, True)

    has_card = np.flatnonzero(card >= 0)
    _velocity(out, "card", has_card, times, _combine(acct[has_card], card[has_card]),
              cur[has_card], cr[has_card], amount[has_card])

    # ---- merchant stage ---------------------------------------------------------------------
    has_m = np.flatnonzero(merchant >= 0)
    if len(has_m):
        m_s = _Sorted.clocked(times, merchant[has_m], times.rank[has_m])
        m_cr = m_s.unsort(m_s.cr)
        _velocity(out, "merchant", has_m, times, merchant[has_m], cur[has_m], m_cr,
                  amount[has_m], m_s)
        end = m_s.clock - LABEL_DELAY * US
        total = (m_s.first_above(-LABEL_DELAY * US)
                 - m_s.first_above(-(LABEL_DELAY + LABEL_WINDOW) * US))
        frauds = np.zeros(len(has_m), dtype=np.int64)
        if labels is not None and labels.height:
            order_rows = has_m[m_s.order]
            counted = pl.DataFrame({
                "merchant_id": ev["merchant_id"].cast(pl.String).gather(order_rows),
                "m": merchant[order_rows],
                "x": ev["transaction_id"].cast(pl.String).gather(order_rows),
                "clock": m_s.clock, "seen": ev[_SEEN].gather(order_rows)})
            frauds = _fraud_counts(counted, labels, merchant[order_rows], t[order_rows], end)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(total > 0, frauds / np.maximum(total, 1), np.nan)
        out.put("merchant_fraud_rate_30d_delay7d", has_m[m_s.order], rate)

    # ---- device stage -----------------------------------------------------------------------
    has_d = np.flatnonzero(device >= 0)
    if len(has_d):
        d_s = _Sorted.clocked(times, device[has_d], times.rank[has_d])
        d_cr = d_s.unsort(d_s.cr)
        _velocity(out, "device", has_d, times, device[has_d], cur[has_d], d_cr, amount[has_d],
                  d_s)
        accts = acct[has_d][d_s.order]
        for label, res in zip(("24h", "7d"), _distinct(d_s, accts, (_D24, _D7)), strict=True):
            out.put(f"device_distinct_accounts_{label}", has_d[d_s.order], res)

    # ---- P2P network node: own legs of every event, in legs of P2P transfers ----------------
    _network(out, times, t, amount, cur, acct, cp, p2p, etype)
    return out.complete()


def _behaviour(out: _Out, acct_cur: _Sorted, amount: np.ndarray) -> None:
    """z-score and ratio to the mean of the account's earlier amounts in the same currency:
    float running n / sum / sum of squares, added one event at a time (polars ``cum_sum`` is
    sequential, like the online additions), then shifted to exclude the event itself."""
    a = amount[acct_cur.order].astype(np.float64)
    seg = acct_cur.seg
    h = pl.DataFrame({"g": seg, "a": a}).select(
        pl.col("a").cum_sum().over("g").alias("s"),
        (pl.col("a") * pl.col("a")).cum_sum().over("g").alias("q"))
    start = np.ones(len(a), dtype=bool)
    start[1:] = seg[1:] != seg[:-1]
    first = np.flatnonzero(start)
    n = (acct_cur.pos - first[seg]).astype(np.float64)
    s = np.concatenate([[0.0], h["s"].to_numpy()[:-1]])
    q = np.concatenate([[0.0], h["q"].to_numpy()[:-1]])
    s[start], q[start] = 0.0, 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s / n
        std = np.sqrt(np.maximum(q / n - mean * mean, 0.0))
        z = np.where((n >= 2) & (std > 0), (a - mean) / std, np.nan)
        ratio = np.where((n > 0) & (mean > 0), a / mean, np.nan)
    out.put("acct_amount_zscore", acct_cur.order, z, True)
    out.put("acct_amount_ratio_to_mean", acct_cur.order, ratio, True)


def _band_flags(currency: pl.Series, amount: np.ndarray) -> np.ndarray:
    uniq = currency.unique().to_list()
    bands = [structuring_band(MINOR_UNITS.get(c, 2)) for c in uniq]
    low = currency.replace_strict(uniq, [b[0] for b in bands], return_dtype=pl.Int64).to_numpy()
    high = currency.replace_strict(uniq, [b[1] for b in bands], return_dtype=pl.Int64).to_numpy()
    return ((low <= amount) & (amount < high)).astype(np.int64)


def _network(out: _Out, times: _Times, t: np.ndarray, amount: np.ndarray,
             cur: np.ndarray, acct: np.ndarray, cp: np.ndarray, p2p: np.ndarray,
             etype: pl.Series) -> None:
    n = len(t)
    inflow = etype.is_in(sorted(INFLOW_TYPES)).to_numpy()
    outflow = etype.is_in(sorted(OUTFLOW_TYPES)).to_numpy()
    pin = np.flatnonzero(p2p)
    # legs in arrival order: (row, own before in)
    row = np.concatenate([np.arange(n), pin])
    leg = np.concatenate([np.zeros(n, dtype=np.int64), np.ones(len(pin), dtype=np.int64)])
    o = np.argsort(row * 2 + leg, kind="stable")
    row, leg = row[o], leg[o]
    own = leg == 0
    node = np.where(own, acct[row], cp[row])
    money_in = np.where(own, np.where(inflow[row], amount[row], 0), amount[row])
    money_out = np.where(own & outflow[row], amount[row], 0)
    sender = np.where(own, -1, acct[row])

    s = _Sorted.clocked(times, node, times.rank[row])
    cr = s.unsort(s.cr)
    c = _Sorted(times, _combine(node, cur[row]), cr)
    lo = c.first_above(-_D24)
    pin_, pout = _prefix(money_in[c.order]), _prefix(money_out[c.order])
    total_in = pin_[c.pos + 1] - pin_[lo]
    total_out = pout[c.pos + 1] - pout[lo]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(total_in != 0, total_out / total_in.astype(np.float64), np.nan)
    own_c = own[c.order]
    out.put("acct_pass_through_24h", row[c.order][own_c], ratio[own_c])
    out.put("cp_pass_through_24h", row[c.order][~own_c], ratio[~own_c])
    own_s, row_s = own[s.order], row[s.order]
    d24, d7 = _distinct(s, sender[s.order], (_D24, _D7))
    out.put("acct_distinct_cp_in_24h", row_s[own_s], d24[own_s])
    out.put("acct_distinct_cp_in_7d", row_s[own_s], d7[own_s])
    out.put("cp_distinct_senders_24h", row_s[~own_s], d24[~own_s])
    out.put("cp_distinct_senders_7d", row_s[~own_s], d7[~own_s])


def feature_matrix(features: pl.DataFrame) -> pl.DataFrame:
    """Just the model inputs, in declaration order."""
    return features.select(FEATURE_NAMES)


# --------------------------------------------------------------------------------------------
# Replay order shared by parity tests and stream replays
# --------------------------------------------------------------------------------------------

def replay_order(events: pl.DataFrame, labels: pl.DataFrame | None = None
                 ) -> Iterator[tuple[str, dict[str, Any]]]:
    """Events (every row, in row order) with labels merged in by time: each label right before
    the first event whose ``occurred_at`` is ``>=`` the label's (labels first at equal times),
    labels among themselves by (``occurred_at``, row); labels known after every event last.

    For a history in time order this is the merge by time; replaying it through
    ``OnlineFeatures`` (``process`` for events, ``label`` for labels) applies every label with
    ``occurred_at <= t`` before an event at time ``t`` — the "known at t" of
    :func:`build_features` (see the module docstring for the one divergence)."""
    rows = events.to_dicts()
    if labels is None or labels.height == 0:
        for r in rows:
            yield "event", r
        return
    lab = labels.with_row_index(_ROW).with_columns(_micros(pl.col("occurred_at")).alias("__a"))
    lab = lab.sort(["__a", _ROW])
    t = events.select(_micros(pl.col("occurred_at"))).to_series().to_numpy()
    running = np.maximum.accumulate(t) if len(t) else t
    at = np.searchsorted(running, lab["__a"].to_numpy(), "left")
    lab_rows = lab.drop(_ROW, "__a").to_dicts()
    j = 0
    for i, r in enumerate(rows):
        while j < len(lab_rows) and at[j] <= i:
            yield "label", lab_rows[j]
            j += 1
        yield "event", r
    for rest in lab_rows[j:]:
        yield "label", rest


def bench_offline(n: int = 200_000, seed: int = 5) -> dict[str, float]:
    """Seconds ``build_features`` takes over ``n`` synthetic events and their labels.

    ``python -c "from features.offline import bench_offline; print(bench_offline(200_000))"``
    """
    import time

    events, labels = _synthetic_history(n, seed)
    t0 = time.perf_counter()
    build_features(events, labels)
    return {"events": float(n), "labels": float(labels.height),
            "seconds": time.perf_counter() - t0}


def _synthetic_history(n: int, seed: int = 0, days: float = 60.0) -> tuple[pl.DataFrame,
                                                                          pl.DataFrame]:
    """A quick vectorised random history (not the simulator): for benches only."""
    rng = np.random.default_rng(seed)
    n_acct, n_merch, n_dev = max(50, n // 50), max(20, n // 500), max(50, n // 40)
    start = 1_780_000_000 * US
    t = np.sort(rng.integers(0, int(days * DAY * US), n)) + start
    late = rng.random(n) < 0.02
    t[late] -= rng.integers(0, DAY * US, late.sum())
    types = np.array(["merchant_payment", "p2p_transfer", "top_up", "withdrawal", "refund"])
    etype = types[rng.choice(len(types), n, p=[0.6, 0.15, 0.15, 0.05, 0.05])]
    acct = rng.integers(0, n_acct, n)
    has_m = np.isin(etype, ["merchant_payment", "refund"])
    currency = np.array(["EUR", "USD", "JPY", "KWD"])[rng.choice(4, n, p=[.7, .2, .05, .05])]
    ev = pl.DataFrame({
        "transaction_id": [f"tx{i}" for i in range(n)],
        "event_type": etype,
        "occurred_at": pl.Series(t).cast(pl.Datetime("us", "UTC")),
        "amount_minor": rng.integers(100, 2_000_000, n),
        "currency": currency,
        "account_id": [f"a{i}" for i in acct],
        "counterparty_account_id": [f"a{i}" if p else None for i, p in
                                    zip(rng.integers(0, n_acct, n), etype == "p2p_transfer",
                                        strict=True)],
        "merchant_id": [f"m{i}" if h else None for i, h in
                        zip(rng.integers(0, n_merch, n), has_m, strict=True)],
        "card_token": [f"c{a}-{k}" if h else None for a, k, h in
                       zip(acct, rng.integers(0, 2, n), has_m, strict=True)],
        "device_id": [f"d{i}" if rng_ok else None for i, rng_ok in
                      zip(rng.integers(0, n_dev, n), rng.random(n) < 0.8, strict=True)],
        "country": np.array(["DE", "FR", "US", "JP", "GB"])[rng.integers(0, 5, n)],
        "channel": np.array(["web", "mobile_app", "pos"])[rng.integers(0, 3, n)],
    })
    ev = ev.select([pl.col(c) if c in ev.columns else pl.lit(None, d).alias(c)
                    for c, d in EVENT_SCHEMA.items()])
    lab_idx = np.flatnonzero(has_m & (rng.random(n) < 0.05))
    labels = pl.DataFrame({
        "labelled_transaction_id": ev["transaction_id"].gather(lab_idx),
        "merchant_id": ev["merchant_id"].gather(lab_idx),
        "transaction_occurred_at": ev["occurred_at"].gather(lab_idx),
        "occurred_at": ev["occurred_at"].gather(lab_idx)
        + pl.Series(rng.integers(1, 40 * DAY * US, len(lab_idx))).cast(pl.Duration("us")),
        "is_fraud": rng.random(len(lab_idx)) < 0.8,
    })
    return ev, labels
