"""``build_features``: every feature of every event of a history, point-in-time correct."""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from core.frames import EVENT_SCHEMA
from features.aggregations import FraudRate, OfflineGroup
from features.definitions import (
    EVENT_FEATURES,
    FEATURE_NAMES,
    PLAN,
    FeaturePlan,
    with_event_features,
)
from features.offline.arrays import (
    SEEN,
    Out,
    Sorted,
    Times,
    combine,
    dictionary_codes,
    micros,
)
from features.offline.checks import check_encodable
from features.offline.families import (
    band_flags,
    entity_group,
    network,
    typed,
)
from features.offline.labels import label_events

log = logging.getLogger(__name__)


def dedupe(events: pl.DataFrame) -> pl.DataFrame:
    """Keep the first row of every ``transaction_id`` (a redelivery changes nothing online)."""
    first = events.select(pl.col("transaction_id").is_first_distinct()).to_series()
    return events if first.all() else events.filter(first)


def build_features(events: pl.DataFrame, labels: pl.DataFrame | None = None,
                   plan: FeaturePlan = PLAN) -> pl.DataFrame:
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
    does not apply). ``plan``: the declared stateful features (``definitions.PLAN``; tests
    declare others).
    """
    if labels is None:
        log.warning("build_features without labels: %s are 0 wherever the entity has "
                    "transactions (no fraud known); pass the labels, or an empty frame when "
                    "none are known", ", ".join(
                        f.name for f in plan.features if isinstance(f.aggregation, FraudRate)))
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
    stateful = stateful_features(work, labels, plan)
    event_features = with_event_features(work).select(f.name for f in EVENT_FEATURES)
    result = frame.with_columns(
        *event_features.get_columns(),
        *(pl.Series(name, stateful[name], dtype=pl.Float64) for name in plan.names))
    names = [*(f.name for f in EVENT_FEATURES), *plan.names]
    return result.select([*frame.columns, *[c for c in names if c not in frame.columns]])


def stateful_features(ev: pl.DataFrame, labels: pl.DataFrame | None,
                      plan: FeaturePlan = PLAN) -> dict[str, np.ndarray]:
    n = ev.height
    out = Out(n, plan.names)
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
    acct_g = entity_group(None, times, acct, cur, cr, amount, acct_s)
    # per account record: its P2P payee (distinct counterparties), the values first seen
    # looks up, and whether its amount is in the structuring band
    acct_g.values = {"counterparty_account_id": np.where(p2p, cp, -1)[acct_s.order],
                     "merchant_id": merchant[acct_s.order], "device_id": device[acct_s.order],
                     "country": country[acct_s.order]}
    acct_g.flags = band_flags(ev["currency"], amount)[acct_s.order]
    acct_g.events = ev  # local time reads each row's time and its account's home country
    typed(out, plan, ("account", "account"), acct_g)

    has_card = np.flatnonzero(card >= 0)
    if len(has_card):
        typed(out, plan, ("account", "card"),
              entity_group(has_card, times, combine(acct[has_card], card[has_card]),
                           cur[has_card], cr[has_card], amount[has_card]))

    merchant_stage(out, plan, ev, labels, times, t, amount, cur, merchant)
    device_stage(out, plan, ev, labels, times, t, amount, cur, acct, device)

    # ---- P2P network node: own legs of every event, in legs of P2P transfers ----------------
    network(out, plan, times, t, amount, cur, acct, cp, p2p, etype, ev, labels)
    return out.complete()


def labelled_group(items: np.ndarray, codes: np.ndarray, key: str, times: Times,
                   ev: pl.DataFrame, labels: pl.DataFrame | None, t: np.ndarray,
                   amount: np.ndarray, cur: np.ndarray) -> OfflineGroup:
    """The views of an entity labels reach whose every transaction counts (merchant, device):
    velocity's and the fraud rates'. ``items``: the rows with the entity, ``codes`` their
    entity codes, ``key`` the event column naming it."""
    s = Sorted.clocked(times, codes, times.rank[items])
    g = entity_group(items, times, codes, cur[items], s.unsort(s.cr), amount[items], s)
    g.counted = np.ones(len(items), dtype=bool)
    g.codes = codes[s.order]
    g.events, g.t, g.labels, g.key = ev, t, labels, key
    return g


def merchant_stage(out: Out, plan: FeaturePlan, ev: pl.DataFrame,
                   labels: pl.DataFrame | None, times: Times, t: np.ndarray,
                   amount: np.ndarray, cur: np.ndarray, merchant: np.ndarray) -> None:
    """The merchant's typed aggregations: velocity and delayed-label fraud rates."""
    has_m = np.flatnonzero(merchant >= 0)
    if len(has_m):
        typed(out, plan, ("merchant", "merchant"), labelled_group(
            has_m, merchant[has_m], "merchant_id", times, ev, labels, t, amount, cur))


def device_stage(out: Out, plan: FeaturePlan, ev: pl.DataFrame,
                 labels: pl.DataFrame | None, times: Times, t: np.ndarray,
                 amount: np.ndarray, cur: np.ndarray, acct: np.ndarray,
                 device: np.ndarray) -> None:
    """The device's typed aggregations: velocity, fraud rates, distinct accounts."""
    has_d = np.flatnonzero(device >= 0)
    if len(has_d):
        g = labelled_group(has_d, device[has_d], "device_id", times, ev, labels, t, amount, cur)
        g.values = {"account_id": acct[has_d][g.entity.order]}
        typed(out, plan, ("device", "device"), g)


def feature_matrix(features: pl.DataFrame) -> pl.DataFrame:
    """Just the model inputs, in declaration order."""
    return features.select(FEATURE_NAMES)


# --------------------------------------------------------------------------------------------
# Replay order shared by parity tests and stream replays
# --------------------------------------------------------------------------------------------
