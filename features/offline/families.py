"""One function per feature family (velocity, distinct counts, first seen, local time, delayed-
label fraud counts, behaviour, structuring bands, the P2P network node), all vectorised."""

from __future__ import annotations

import numpy as np
import polars as pl

from core.contract import MINOR_UNITS, structuring_band
from core.geo import timezone_of_country
from features.definitions import (
    FIRST_SEEN_LOOKBACK,
    FRAUD_RATES,
    INFLOW_TYPES,
    NIGHT_HOURS,
    OUTFLOW_TYPES,
    US,
    Stage,
)
from features.offline.arrays import (
    D7,
    D24,
    ROW,
    SEEN,
    VELOCITY,
    Out,
    Sorted,
    Times,
    combine,
    dominance,
    micros,
    prefix_sums,
    range_max,
)


def velocity(out: Out, prefix: str, items: np.ndarray | None, times: Times,
              ent: np.ndarray, cur: np.ndarray, cr: np.ndarray, amount: np.ndarray,
              e: Sorted | None = None) -> Sorted | None:
    """Count (entity, all currencies) and sum/mean/max (entity and currency) per window.
    ``items``: the rows the entity arrays describe (None: every row); ``e``: the entity
    grouping if already sorted. Returns the (entity, currency) grouping."""
    if not len(ent):
        return None
    every = items is None
    e = e if e is not None else Sorted(times, ent, cr)
    c = Sorted(times, combine(ent, cur), cr)
    e_rows = e.order if every else items[e.order]
    c_rows = c.order if every else items[c.order]
    a = amount[c.order]
    pre = prefix_sums(a)
    los = []
    for label, w in VELOCITY:
        n = (e.pos - e.first_above(-w) + 1).astype(np.float64)
        out.put(f"{prefix}_count_{label}", e_rows, n, every)
        lo = c.first_above(-w)
        total = (pre[c.pos + 1] - pre[lo]).astype(np.float64)
        out.put(f"{prefix}_sum_{label}", c_rows, total, every)
        out.put(f"{prefix}_mean_{label}", c_rows, total / (c.pos - lo + 1), every)
        los.append(lo)
    top = range_max(a, np.concatenate(los), np.tile(c.pos, len(los))).astype(np.float64)
    for j, (label, _) in enumerate(VELOCITY):
        out.put(f"{prefix}_max_{label}", c_rows, top[j * len(a):(j + 1) * len(a)], every)
    return c


def distinct(s: Sorted, values: np.ndarray, windows: tuple[int, ...]) -> list[np.ndarray]:
    """Per sorted position of ``s``: distinct non-negative ``values`` (given per sorted position)
    among the group's positions up to it whose clock is inside ``(clock − w, clock]``."""
    m = len(values)
    js = np.flatnonzero(values >= 0)
    if not len(js):
        return [np.zeros(m) for _ in windows]
    key = combine(s.seg[js], values[js])
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


def first_seen(acct_s: Sorted, values: np.ndarray) -> np.ndarray:
    """1.0 if the (account, value) was not seen within the lookback on the account clock, 0.0 if
    it was, NaN without a value; per sorted position of the account grouping."""
    res = np.full(len(values), np.nan)
    js = np.flatnonzero(values >= 0)
    if not len(js):
        return res
    key = combine(acct_s.seg[js], values[js])
    o = np.argsort(key, kind="stable")
    js, key = js[o], key[o]
    clock = acct_s.clock[js]
    new = np.ones(len(js))
    same = key[1:] == key[:-1]
    seen = clock[:-1] > clock[1:] - FIRST_SEEN_LOOKBACK * US
    new[1:][same & seen] = 0.0
    res[js] = new
    return res


def local_time(occurred: pl.Series, home: pl.Series) -> tuple[np.ndarray, np.ndarray]:
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


def fraud_rates(out: Out, stage: Stage, s: Sorted, rows: np.ndarray, counted: np.ndarray,
                codes: np.ndarray, ev: pl.DataFrame, t: np.ndarray, labels: pl.DataFrame | None,
                key: str) -> None:
    """The stage's declared fraud rates (``FRAUD_RATES[stage]``) for its records in ``s``.

    ``s``: the stage's records sorted by entity, with their clocks; per sorted position, ``rows``
    its event row, ``counted`` whether it is one of the transactions the rates count (and are
    given for: every merchant / device record, the payee legs of a network node), ``codes`` its
    entity code. ``key``: the label column naming the entity. A rate is frauds / transactions
    with clock in ``(clock − delay − window, clock − delay]``; NaN without transactions."""
    pre = prefix_sums(counted.astype(np.int64))
    q = np.flatnonzero(counted)
    if not len(q):
        return
    features = FRAUD_RATES[stage]
    totals, ranges = [], []
    for f in features:
        assert f.window is not None and f.delay is not None
        d, w = f.delay * US, f.window * US
        totals.append(pre[s.first_above(-d)[q]] - pre[s.first_above(-(d + w))[q]])
        end = s.clock[q] - d
        ranges.append((end - w, end))
    if labels is not None and labels.height:
        table = pl.DataFrame({
            "k": ev[key].cast(pl.String).gather(rows[q]), "m": codes[q],
            "x": ev["transaction_id"].cast(pl.String).gather(rows[q]),
            "clock": s.clock[q], "seen": ev[SEEN].gather(rows[q])})
        frauds = fraud_counts(table, labels.rename({key: "k"}), codes[q], t[rows[q]], ranges)
    else:
        frauds = [np.zeros(len(q), dtype=np.int64) for _ in features]
    for f, total, n in zip(features, totals, frauds, strict=True):
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(total > 0, n / np.maximum(total, 1), np.nan)
        out.put(f.name, rows[q], rate)


def fraud_counts(counted: pl.DataFrame, labels: pl.DataFrame, m_q: np.ndarray,
                 t_q: np.ndarray, ranges: list[tuple[np.ndarray, np.ndarray]]
                 ) -> list[np.ndarray]:
    """Per range and query (entity code, event time, range ``(lo, hi]``): labelled transactions
    of that entity whose latest label known at the event time says fraud, placed in the range.

    ``counted`` (k: entity id, m: its code, x, clock, seen) has the entity's counted
    transactions: id, entity clock and the newest event time of the history up to its row;
    ``labels`` name their entity in ``k``. A label version is placed at that clock if the
    transaction arrived before the label (``seen < occurred_at``), else at the label's
    ``transaction_occurred_at`` — as the online engine places it when applied."""
    lab = labels.with_row_index(ROW).select(
        pl.col(ROW),
        pl.col("k").cast(pl.String),
        pl.col("labelled_transaction_id").cast(pl.String).alias("x"),
        micros(pl.col("transaction_occurred_at")).alias("tx"),
        micros(pl.col("occurred_at")).alias("a"),
        pl.col("is_fraud").cast(pl.Boolean).fill_null(False).alias("fraud"),
    ).join(counted.select("k", "m").unique("k"), on="k", how="inner")
    lab = lab.join(counted.select("m", "x", "clock", "seen"), on=["m", "x"], how="left",
                   maintain_order="left")
    lab = lab.with_columns(
        pl.when(pl.col("seen") < pl.col("a")).then(pl.col("clock")).otherwise(pl.col("tx"))
        .alias("tx")).sort(["m", "x", "a", ROW])
    big = np.iinfo(np.int64).max
    lab = lab.with_columns(pl.col("a").shift(-1).over(["m", "x"]).fill_null(big).alias("b"))
    lab = lab.filter(pl.col("fraud") & (pl.col("b") > pl.col("a")))
    if lab.height == 0:
        return [np.zeros(len(m_q), dtype=np.int64) for _ in ranges]
    pm = lab["m"].to_numpy().astype(np.int64)
    ptx = lab["tx"].to_numpy()
    # y = composite (entity, placed time) as a rank among the points' keys
    tx_uniq = np.unique(ptx)
    mul = len(tx_uniq) + 1
    pkey = pm * mul + np.searchsorted(tx_uniq, ptx, "left") + 1
    pkeys = np.sort(pkey)
    py = np.searchsorted(pkeys, pkey, "right")

    def qrank(bound: np.ndarray) -> np.ndarray:
        return np.searchsorted(pkeys, m_q * mul + np.searchsorted(tx_uniq, bound, "right"),
                               "right")

    # only queries with some fraud version of their entity placed in their range can count
    # anything: the others are 0 whatever is known, and are not asked
    bounds = [(qrank(hi), qrank(lo)) for lo, hi in ranges]
    asked = [np.flatnonzero(hi > lo) for hi, lo in bounds]
    qy = np.concatenate([b[q] for (hi, lo), q in zip(bounds, asked, strict=True)
                         for b in (hi, lo)])
    qx = np.concatenate([t_q[q] for q in asked for _ in (0, 1)])
    known = dominance(lab["a"].to_numpy(), py, qx, qy)
    finite = lab["b"].to_numpy() != big
    if finite.any():
        known -= dominance(lab["b"].to_numpy()[finite], py[finite], qx, qy)
    out, at = [], 0
    for q in asked:
        count = np.zeros(len(m_q), dtype=np.int64)
        count[q] = known[at:at + len(q)] - known[at + len(q):at + 2 * len(q)]
        out.append(count)
        at += 2 * len(q)
    return out


def behaviour(out: Out, acct_cur: Sorted, amount: np.ndarray) -> None:
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


def band_flags(currency: pl.Series, amount: np.ndarray) -> np.ndarray:
    uniq = currency.unique().to_list()
    bands = [structuring_band(MINOR_UNITS.get(c, 2)) for c in uniq]
    low = currency.replace_strict(uniq, [b[0] for b in bands], return_dtype=pl.Int64).to_numpy()
    high = currency.replace_strict(uniq, [b[1] for b in bands], return_dtype=pl.Int64).to_numpy()
    return ((low <= amount) & (amount < high)).astype(np.int64)


def network(out: Out, times: Times, t: np.ndarray, amount: np.ndarray,
             cur: np.ndarray, acct: np.ndarray, cp: np.ndarray, p2p: np.ndarray,
             etype: pl.Series, ev: pl.DataFrame, labels: pl.DataFrame | None) -> None:
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

    s = Sorted.clocked(times, node, times.rank[row])
    cr = s.unsort(s.cr)
    c = Sorted(times, combine(node, cur[row]), cr)
    lo = c.first_above(-D24)
    pin_, pout = prefix_sums(money_in[c.order]), prefix_sums(money_out[c.order])
    total_in = pin_[c.pos + 1] - pin_[lo]
    total_out = pout[c.pos + 1] - pout[lo]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(total_in != 0, total_out / total_in.astype(np.float64), np.nan)
    own_c = own[c.order]
    out.put("acct_pass_through_24h", row[c.order][own_c], ratio[own_c])
    out.put("cp_pass_through_24h", row[c.order][~own_c], ratio[~own_c])
    own_s, row_s = own[s.order], row[s.order]
    d24, d7 = distinct(s, sender[s.order], (D24, D7))
    out.put("acct_distinct_cp_in_24h", row_s[own_s], d24[own_s])
    out.put("acct_distinct_cp_in_7d", row_s[own_s], d7[own_s])
    out.put("cp_distinct_senders_24h", row_s[~own_s], d24[~own_s])
    out.put("cp_distinct_senders_7d", row_s[~own_s], d7[~own_s])
    # the payee's fraud rates count the transfers its node received (its "in" legs)
    fraud_rates(out, "net_in", s, row_s, ~own_s, node[s.order], ev, t, labels,
                "counterparty_account_id")
