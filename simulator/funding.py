"""Ledger-consistent funding: wallets are topped up before they would ever go below zero.

The ledger refuses to overdraw a customer wallet (per currency). :func:`balance_deltas` says how
each event moves each wallet (a card authorization holds money, its capture then moves the same
amount, a void releases it); :func:`funding_top_ups` adds, per wallet that would go negative,
one top-up shortly before that wallet's first event, large enough for the whole window.

>>> import numpy as np
>>> from simulator.profiles import build_world
>>> from simulator.rows import Scene, block, concat
>>> scene = Scene(build_world(1, 5, 3), np.random.default_rng(0), 0, 10**12)
>>> spend = block(scene, occurred_us=np.array([5 * 10**9]), event_type="withdrawal",
...               amount_minor=7_000, currency="EUR", account_id="acc-1.000001",
...               country="DE", channel="atm")
>>> top = funding_top_ups(scene, spend)
>>> top["event_type"].to_list(), bool(top["amount_minor"][0] >= 7_000)
(['top_up'], True)
>>> lowest_balances(concat([spend, top]))["lowest"].min() >= 0
True
"""

from __future__ import annotations

import numpy as np
import polars as pl

from core.contract import structuring_band
from simulator.rhythm import HOUR_US, US
from simulator.rows import Scene, block, take

_DEBIT = ["withdrawal", "p2p_transfer", "merchant_payment", "card_authorization"]
_CREDIT = ["top_up", "refund", "chargeback", "card_void"]


def balance_deltas(rows: pl.DataFrame) -> pl.DataFrame:
    """(account_id, currency, occurred_us, key, delta) for every wallet movement of ``rows``."""
    et, amount = pl.col("event_type"), pl.col("amount_minor")
    own = rows.select(
        "account_id", "currency", "occurred_us", "key",
        delta=pl.when(et.is_in(_DEBIT)).then(-amount)
        .when(et.is_in(_CREDIT)).then(amount)
        .when(et == "card_capture").then(pl.when(pl.col("original_key").is_null())
                                         .then(-amount).otherwise(0))
        .when(et == "fx_conversion").then(-amount).otherwise(0)
        - pl.col("fee_minor").fill_null(0))
    received = rows.filter(et == "p2p_transfer").select(
        pl.col("counterparty_account_id").alias("account_id"), "currency", "occurred_us",
        "key", delta=amount)
    bought = rows.filter(et == "fx_conversion").select(
        "account_id", pl.col("target_currency").alias("currency"), "occurred_us", "key",
        delta=pl.col("target_amount_minor"))
    return pl.concat([own, received, bought], how="vertical")


def lowest_balances(rows: pl.DataFrame, opening: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per wallet: its lowest running balance and its first event time."""
    deltas = balance_deltas(rows)
    if opening is not None:
        deltas = pl.concat([opening.select(
            "account_id", "currency", occurred_us=pl.lit(-1, pl.Int64), key=pl.lit(-1, pl.Int64),
            delta="balance"), deltas], how="vertical")
    return (deltas.sort("account_id", "currency", "occurred_us", "key")
            .with_columns(running=pl.col("delta").cum_sum().over("account_id", "currency"))
            .group_by("account_id", "currency", maintain_order=True)
            .agg(lowest=pl.col("running").min(),
                 first_us=pl.col("occurred_us").filter(pl.col("key") >= 0).min()))


def funding_top_ups(scene: Scene, rows: pl.DataFrame,
                    opening: pl.DataFrame | None = None) -> pl.DataFrame:
    """One top-up per wallet that would go negative, before that wallet's first event."""
    short = lowest_balances(rows, opening).filter(pl.col("lowest") < 0).sort(
        "account_id", "currency")
    n, rng = short.height, scene.rng
    deficit = -short["lowest"].to_numpy()
    amount = np.ceil(deficit * rng.uniform(1.1, 1.6, n) / 1000 + 1) * 1000
    low, high = structuring_band(2)
    amount = np.where((amount >= low) & (amount < high), high + 1000 * rng.integers(0, 50, n),
                      amount).astype(np.int64)
    lead = rng.integers(60 * US, 2 * HOUR_US, n)
    at = np.maximum(short["first_us"].to_numpy() - lead, scene.start_us)
    # account ids end in the customer's index (``acc-<seed>.<index>``, simulator.profiles)
    index = short["account_id"].str.split(".").list.last().cast(pl.Int64).to_numpy()
    return block(scene, occurred_us=at, event_type="top_up", amount_minor=amount,
                 currency=short["currency"], account_id=short["account_id"],
                 country=take(scene.world.customers.country, index), channel="api")
