"""``build_features``: every feature of every event of a history, point-in-time correct."""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from core.frames import EVENT_SCHEMA
from features.definitions import (
    EVENT_FEATURES,
    FEATURE_NAMES,
    FRAUD_RATES,
    US,
    with_event_features,
)
from features.offline.arrays import (
    D7,
    D24,
    SEEN,
    STATEFUL,
    Out,
    Sorted,
    Times,
    combine,
    dictionary_codes,
    micros,
    prefix_sums,
)
from features.offline.checks import check_encodable
from features.offline.families import (
    band_flags,
    behaviour,
    distinct,
    first_seen,
    fraud_rates,
    local_time,
    network,
    velocity,
)
from features.offline.labels import label_events

log = logging.getLogger(__name__)


def dedupe(events: pl.DataFrame) -> pl.DataFrame:
    """Keep the first row of every ``transaction_id`` (a redelivery changes nothing online)."""
    first = events.select(pl.col("transaction_id").is_first_distinct()).to_series()
    return events if first.all() else events.filter(first)


def build_features(events: pl.DataFrame, labels: pl.DataFrame | None = None) -> pl.DataFrame:
    """Every feature of every event, point-in-time correct, as online would compute it.

    ``events``: canonical event columns (``core.frames.EVENT_SCHEMA``), in arrival order.
    ``labels``: fraud labels, canonical (``transaction_id``, ``is_fraud``, ``labelled_at``) or
    as the stream's label events (``labelled_transaction_id``, ``merchant_id``,
    ``transaction_occurred_at``, ``occurred_at``, ``is_fraud``); see
    ``features.offline.labels``. Without labels (``None``) the merchant fraud rate is what the
    stream computes before any label arrives — 0 wherever the merchant has transactions in the
    window — and a warning says so; an empty frame means "no label known" and is silent.
    Raises ``ValueError`` naming rows and fields for an ``event_type``/``channel`` outside the
    contract or a ``country`` outside the zone table (``features.offline.checks``).
    Returns the events (every input column, later duplicates of a ``transaction_id`` dropped,
    row order kept) plus one Float64 column per name in ``FEATURE_NAMES`` (NaN where a feature
    does not apply).
    """
    if labels is None:
        log.warning("build_features without labels: %s are 0 wherever the entity has "
                    "transactions (no fraud known); pass the labels, or an empty frame when "
                    "none are known", ", ".join(f.name for fs in FRAUD_RATES.values() for f in fs))
    check_encodable(events)
    # newest event time of the history up to each row (duplicates included, as replayed): a
    # label arrives right before the first row at or after its time (see replay_order)
    seen = events.select(micros(pl.col("occurred_at")).cum_max().alias(SEEN))[SEEN]
    frame = dedupe(events.with_columns(seen))
    work = frame.select(
        [pl.col(c) if c in frame.columns else pl.lit(None, dtype).alias(c)
         for c, dtype in EVENT_SCHEMA.items()] + [pl.col(SEEN)]
    )
    frame = frame.drop(SEEN)
    if labels is not None and labels.height:
        labels = label_events(work, labels)
    stateful = stateful_features(work, labels)
    event_features = with_event_features(work).select(f.name for f in EVENT_FEATURES)
    result = frame.with_columns(
        *event_features.get_columns(),
        *(pl.Series(name, stateful[name], dtype=pl.Float64) for name in STATEFUL))
    return result.select([*frame.columns, *[c for c in FEATURE_NAMES if c not in frame.columns]])


def stateful_features(ev: pl.DataFrame, labels: pl.DataFrame | None) -> dict[str, np.ndarray]:
    n = ev.height
    out = Out(n)
    if n == 0:
        return out.complete()
    t = ev.select(micros(pl.col("occurred_at"))).to_series().to_numpy().astype(np.int64)
    amount = ev["amount_minor"].cast(pl.Int64).to_numpy()
    times = Times(t)

    # one dictionary for payers and payees (both key the network node); "" is a key online
    acct, cp = dictionary_codes(ev["account_id"].fill_null(""), ev["counterparty_account_id"],
                      empty_is_null=False)
    cp_raw = ev["counterparty_account_id"].cast(pl.String)
    cp[(cp_raw.is_null() | (cp_raw.str.len_bytes() == 0)).to_numpy()] = -1
    (cur,) = dictionary_codes(ev["currency"])
    cur = np.maximum(cur, 0)
    (merchant,) = dictionary_codes(ev["merchant_id"])
    (device,) = dictionary_codes(ev["device_id"])
    (card,) = dictionary_codes(ev["card_token"])
    (country,) = dictionary_codes(ev["country"])
    etype = ev["event_type"].cast(pl.String)
    p2p = ((etype == "p2p_transfer").to_numpy() & (cp >= 0))

    # ---- account stage ----------------------------------------------------------------------
    acct_s = Sorted.clocked(times, acct, times.rank)
    cr = acct_s.unsort(acct_s.cr)  # account clock rank per row
    acct_cur = velocity(out, "acct", None, times, acct, cur, cr, amount, acct_s)

    first = np.ones(n, dtype=bool)
    first[1:] = acct_s.seg[1:] != acct_s.seg[:-1]
    since = np.full(n, np.nan)
    since[~first] = (acct_s.clock[~first] - acct_s.clock[np.flatnonzero(~first) - 1]) / US
    out.put("acct_seconds_since_prev", acct_s.order, since, True)
    assert acct_cur is not None
    behaviour(out, acct_cur, amount)
    for attr, codes in (("merchant", merchant), ("device", device), ("country", country)):
        out.put(f"acct_new_{attr}", acct_s.order, first_seen(acct_s, codes[acct_s.order]), True)

    home = ev.select(pl.col("country").first().over(pl.col("account_id").fill_null("")))
    night, weekend = local_time(ev["occurred_at"], home.to_series())
    out.put("acct_local_night", None, night)
    out.put("acct_local_weekend", None, weekend)

    band = band_flags(ev["currency"], amount)
    pre = prefix_sums(band[acct_s.order])
    for label, w in (("24h", D24), ("7d", D7)):
        lo = acct_s.first_above(-w)
        out.put(f"acct_structuring_count_{label}", acct_s.order,
                (pre[acct_s.pos + 1] - pre[lo]).astype(np.float64), True)

    cp_out = np.where(p2p, cp, -1)[acct_s.order]
    for label, res in zip(("24h", "7d"), distinct(acct_s, cp_out, (D24, D7)), strict=True):
        out.put(f"acct_distinct_cp_out_{label}", acct_s.order, res, True)

    has_card = np.flatnonzero(card >= 0)
    velocity(out, "card", has_card, times, combine(acct[has_card], card[has_card]),
              cur[has_card], cr[has_card], amount[has_card])

    merchant_stage(out, ev, labels, times, t, amount, cur, merchant)
    device_stage(out, ev, labels, times, t, amount, cur, acct, device)

    # ---- P2P network node: own legs of every event, in legs of P2P transfers ----------------
    network(out, times, t, amount, cur, acct, cp, p2p, etype, ev, labels)
    return out.complete()


def merchant_stage(out: Out, ev: pl.DataFrame, labels: pl.DataFrame | None, times: Times,
                   t: np.ndarray, amount: np.ndarray, cur: np.ndarray,
                   merchant: np.ndarray) -> None:
    """Merchant velocity and the merchant's delayed-label fraud rates."""
    has_m = np.flatnonzero(merchant >= 0)
    if len(has_m):
        m_s = Sorted.clocked(times, merchant[has_m], times.rank[has_m])
        m_cr = m_s.unsort(m_s.cr)
        velocity(out, "merchant", has_m, times, merchant[has_m], cur[has_m], m_cr,
                  amount[has_m], m_s)
        rows = has_m[m_s.order]
        fraud_rates(out, "merchant", m_s, rows, np.ones(len(rows), dtype=bool), merchant[rows],
                    ev, t, labels, "merchant_id")


def device_stage(out: Out, ev: pl.DataFrame, labels: pl.DataFrame | None, times: Times,
                 t: np.ndarray, amount: np.ndarray, cur: np.ndarray, acct: np.ndarray,
                 device: np.ndarray) -> None:
    """Device velocity, distinct accounts per device and the device's fraud rates."""
    has_d = np.flatnonzero(device >= 0)
    if len(has_d):
        d_s = Sorted.clocked(times, device[has_d], times.rank[has_d])
        d_cr = d_s.unsort(d_s.cr)
        velocity(out, "device", has_d, times, device[has_d], cur[has_d], d_cr, amount[has_d],
                  d_s)
        accts = acct[has_d][d_s.order]
        for label, res in zip(("24h", "7d"), distinct(d_s, accts, (D24, D7)), strict=True):
            out.put(f"device_distinct_accounts_{label}", has_d[d_s.order], res)
        rows = has_d[d_s.order]
        fraud_rates(out, "device", d_s, rows, np.ones(len(rows), dtype=bool), device[rows],
                    ev, t, labels, "device_id")


def feature_matrix(features: pl.DataFrame) -> pl.DataFrame:
    """Just the model inputs, in declaration order."""
    return features.select(FEATURE_NAMES)


# --------------------------------------------------------------------------------------------
# Replay order shared by parity tests and stream replays
# --------------------------------------------------------------------------------------------
