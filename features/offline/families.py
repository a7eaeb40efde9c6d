"""One function per feature family (the typed aggregations' views and dispatch, distinct
counts, first seen, local time, delayed-label fraud counts, behaviour, structuring bands, the
P2P network node), all vectorised."""

from __future__ import annotations

import numpy as np
import polars as pl

from core.contract import MINOR_UNITS, structuring_band
from core.geo import timezone_of_country
from features.aggregations import Column, OfflineGroup
from features.definitions import (
    INFLOW_TYPES,
    NIGHT_HOURS,
    OUTFLOW_TYPES,
    FeaturePlan,
    Scope,
)
from features.offline.arrays import (
    ROW,
    SEEN,
    Out,
    Sorted,
    Times,
    combine,
    dominance,
    micros,
    prefix_sums,
)


def entity_group(items: np.ndarray | None, times: Times, ent: np.ndarray, cur: np.ndarray,
                 cr: np.ndarray, amount: np.ndarray, e: Sorted | None = None) -> OfflineGroup:
    """The views the velocity aggregations read: the entity grouping (``e`` if already sorted)
    and the (entity, currency) grouping with its amounts. ``items``: the rows the entity arrays
    describe (None: every row); ``cr``: each item's entity clock rank."""
    every = items is None
    e = e if e is not None else Sorted(times, ent, cr)
    c = Sorted(times, combine(ent, cur), cr)
    return OfflineGroup(e, e.order if items is None else items[e.order], every, c,
                        c.order if items is None else items[c.order], amount[c.order])


def typed(out: Out, plan: FeaturePlan, scope: Scope, g: OfflineGroup) -> None:
    """Every typed aggregation the plan declares for ``scope``, each over all its windows."""
    for agg, tws in plan.grouped.get(scope, ()):
        columns = agg.offline(g, [tw.window_us for tw in tws])  # type: ignore[attr-defined]
        for tw, (rows, values, every) in zip(tws, columns, strict=True):
            out.put(tw.name, rows, values, every)


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


def first_seen(acct_s: Sorted, values: np.ndarray, lookback: int) -> np.ndarray:
    """1.0 if the (account, value) was not seen within the lookback on the account clock, 0.0 if
    it was, NaN without a value; per sorted position of the account grouping. ``lookback`` in
    microseconds."""
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
    seen = clock[:-1] > clock[1:] - lookback
    new[1:][same & seen] = 0.0
    res[js] = new
    return res


def local_time(occurred: pl.Series, home: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(night, weekend) flags of each time in its account's home-country zone."""
    countries = home.cast(pl.String).fill_null("").unique().to_list()
    # a missing country is missing data (the loader warns): UTC; an unknown one is an error
    # (``checks.check_encodable`` refuses it before this, naming the rows)
    zones = home.cast(pl.String).fill_null("").replace_strict(
        countries, [timezone_of_country(c) if c else "UTC" for c in countries],
        return_dtype=pl.String)
    night = np.zeros(len(occurred))
    weekend = np.zeros(len(occurred))
    zone_arr = zones.to_numpy()
    for zone in zones.unique().to_list():
        idx = np.flatnonzero(zone_arr == zone)
        local = occurred.gather(idx).dt.convert_time_zone(zone)
        night[idx] = local.dt.hour().is_in(list(NIGHT_HOURS)).to_numpy().astype(np.float64)
        weekend[idx] = (local.dt.weekday() >= 6).to_numpy().astype(np.float64)
    return night, weekend


def fraud_rate_columns(g: OfflineGroup, d: int, windows: list[int]) -> list[Column]:
    """``FraudRate(delay)`` offline: per window (µs), its rates for the group's records.

    ``g.entity``: the stage's records sorted by entity, with their clocks; per sorted position,
    ``g.entity_rows`` its event row, ``g.counted`` whether it is one of the transactions the
    rates count (and are given for: every merchant / device record, the payee legs of a network
    node), ``g.codes`` its entity code; ``g.key``: the label column naming the entity. A rate is
    frauds / transactions with clock in ``(clock − d − window, clock − d]``; NaN without
    transactions."""
    s, rows, counted, codes = g.entity, g.entity_rows, g.counted, g.codes
    assert counted is not None and codes is not None and g.events is not None
    assert g.t is not None
    pre = prefix_sums(counted.astype(np.int64))
    q = np.flatnonzero(counted)
    if not len(q):
        return [(q, np.empty(0), False) for _ in windows]
    totals, ranges = [], []
    for w in windows:
        totals.append(pre[s.first_above(-d)[q]] - pre[s.first_above(-(d + w))[q]])
        end = s.clock[q] - d
        ranges.append((end - w, end))
    labels, ev, key = g.labels, g.events, g.key
    if labels is not None and labels.height:
        table = pl.DataFrame({
            "k": ev[key].cast(pl.String).gather(rows[q]), "m": codes[q],
            "x": ev["transaction_id"].cast(pl.String).gather(rows[q]),
            "clock": s.clock[q], "seen": ev[SEEN].gather(rows[q])})
        frauds = fraud_counts(table, labels.rename({key: "k"}), codes[q], g.t[rows[q]], ranges)
    else:
        frauds = [np.zeros(len(q), dtype=np.int64) for _ in windows]
    out = []
    for total, n in zip(totals, frauds, strict=True):
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(total > 0, n / np.maximum(total, 1), np.nan)
        out.append((rows[q], rate, False))
    return out


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


def behaviour_columns(g: OfflineGroup) -> tuple[np.ndarray, np.ndarray]:
    """z-score and ratio to the mean of the account's earlier amounts in the same currency,
    per position of ``g.by_currency``: float running n / sum / sum of squares, added one event
    at a time (polars ``cum_sum`` is sequential, like the online additions), then shifted to
    exclude the event itself. Computed once per group (``ZScore`` and ``RatioToMean``)."""
    got = g.cache.get("behaviour")
    if got is not None:
        return got
    acct_cur, a = g.by_currency, g.amount
    assert acct_cur is not None and a is not None
    a = a.astype(np.float64)
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
    got = g.cache["behaviour"] = (z, ratio)
    return got


def local_columns(g: OfflineGroup) -> tuple[np.ndarray, np.ndarray]:
    """(night, weekend) of every row of ``g.events`` in its account's home zone (home = the
    country of the account's first row), in row order; once per group."""
    got = g.cache.get("local")
    if got is None:
        ev = g.events
        assert ev is not None
        home = ev.select(pl.col("country").first().over(pl.col("account_id").fill_null("")))
        got = g.cache["local"] = local_time(ev["occurred_at"], home.to_series())
    return got


def band_flags(currency: pl.Series, amount: np.ndarray) -> np.ndarray:
    uniq = currency.unique().to_list()
    bands = [structuring_band(MINOR_UNITS.get(c, 2)) for c in uniq]
    low = currency.replace_strict(uniq, [b[0] for b in bands], return_dtype=pl.Int64).to_numpy()
    high = currency.replace_strict(uniq, [b[1] for b in bands], return_dtype=pl.Int64).to_numpy()
    return ((low <= amount) & (amount < high)).astype(np.int64)


def network(out: Out, plan: FeaturePlan, times: Times, t: np.ndarray, amount: np.ndarray,
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
    own_s, row_s, own_c = own[s.order], row[s.order], own[c.order]
    # both legs' features read one node grouping: what they share is computed once (cache)
    values, shared = {"sender": sender[s.order]}, {}
    flows = {"by_currency": c, "currency_rows": row[c.order], "inflow": money_in[c.order],
             "outflow": money_out[c.order], "values": values, "cache": shared}
    typed(out, plan, ("net_own", "account"),
          OfflineGroup(s, row_s, given=own_s, currency_given=own_c, **flows))
    # the payee's fraud rates count the transfers its node received (its "in" legs)
    typed(out, plan, ("net_in", "counterparty"),
          OfflineGroup(s, row_s, counted=~own_s, codes=node[s.order], events=ev, t=t,
                       labels=labels, key="counterparty_account_id", given=~own_s,
                       currency_given=~own_c, **flows))
