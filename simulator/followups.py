"""Follow-up events of legitimate purchases: two-phase card payments, voids and refunds.

A share of card purchases is an authorization (a hold) followed minutes to days later by a
capture, or sometimes a void, that names it in ``original_transaction_id``; a small share of
purchases is refunded days later, in full or in part. Follow-ups may fall after the window;
the caller decides what to do with those.

>>> import numpy as np
>>> from simulator.profiles import build_world
>>> from simulator.rows import Scene
>>> from simulator.legit import legit_activity
>>> scene = Scene(build_world(4, 300, 40), np.random.default_rng(4), 0, 14 * 86_400 * 10**6)
>>> rows = with_followups(scene, legit_activity(scene))
>>> captures = rows.filter(pl.col("original_key").is_not_null(), event_type="card_capture")
>>> auths = rows.filter(event_type="card_authorization").select("key", "occurred_us")
>>> joined = captures.join(auths, left_on="original_key", right_on="key", suffix="_auth")
>>> later = joined["occurred_us"] > joined["occurred_us_auth"]
>>> joined.height == captures.height > 0, bool(later.all())
(True, True)
"""

from __future__ import annotations

import numpy as np
import polars as pl

from simulator.rhythm import DAY_US, US
from simulator.rows import Scene

TWO_PHASE_SHARE = 0.4
VOID_SHARE = 0.05
REFUND_SHARE = 0.015


def _copies(scene: Scene, source: pl.DataFrame, delay_us: np.ndarray,
            **changes: object) -> pl.DataFrame:
    """New rows copying ``source``, later by ``delay_us``, naming their source as original."""
    return source.with_columns(
        key=pl.Series(scene.keys(source.height)),
        original_key=pl.col("key"),
        occurred_us=pl.col("occurred_us") + pl.Series(delay_us.astype(np.int64)),
        **{k: (v if isinstance(v, pl.Expr | pl.Series) else pl.lit(v)) for k, v in
           changes.items()},
    )


def with_followups(scene: Scene, rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` with some card captures turned into authorizations, plus captures and refunds."""
    rng = scene.rng
    is_card = (rows["event_type"] == "card_capture").to_numpy()
    two_phase = is_card & (rng.random(rows.height) < TWO_PHASE_SHARE)
    rows = rows.with_columns(event_type=pl.when(pl.Series(two_phase))
                             .then(pl.lit("card_authorization")).otherwise("event_type"))
    auths = rows.filter(pl.Series(two_phase))
    delay = np.clip(rng.lognormal(np.log(15 * 60), 1.3, auths.height), 30, 3 * 86_400) * US
    follow = np.where(rng.random(auths.height) < VOID_SHARE, "card_void", "card_capture")
    second = _copies(scene, auths, delay, event_type=pl.Series(follow, dtype=pl.String),
                     fee_minor=None)
    refundable = (rows["event_type"].is_in(["card_capture", "merchant_payment"])).to_numpy() \
        & (rng.random(rows.height) < REFUND_SHARE)
    bought = rows.filter(pl.Series(refundable))
    partial = rng.random(bought.height) < 0.4
    share = np.where(partial, rng.uniform(0.2, 0.9, bought.height), 1.0)
    refunds = _copies(
        scene, bought, np.clip(rng.lognormal(np.log(3), 0.8, bought.height), 0.2, 30) * DAY_US,
        event_type="refund",
        amount_minor=pl.Series(np.maximum(1, (bought["amount_minor"].to_numpy() * share)
                                          .astype(np.int64))),
        channel=pl.when(pl.col("channel") == "card_present").then(pl.lit("card_present"))
        .otherwise(pl.lit("web")), fee_minor=None)
    return pl.concat([rows, second, refunds], how="vertical")
