"""Labels that arrive late, as they do in production: chargebacks, analysts, investigations.

Every case of a typology is found (or missed) as a whole. Fraud is confirmed by an analyst after
a few days or comes back as a chargeback after one to a few weeks (card payments); AML cases are
closed by investigations weeks later. A small share of legitimate events is labelled
not-fraud by analysts clearing alerts. Delays are log-normal (:class:`LabelDelays`).

>>> d = LabelDelays()
>>> d.fraud_analyst_median_days < d.chargeback_median_days < d.aml_median_days
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from simulator.rhythm import DAY_US, HOUR_US
from simulator.rows import Scene
from simulator.typologies import AML_PATTERNS

LABEL_SCHEMA: dict[str, pl.DataType] = {
    "transaction_id": pl.String(), "is_fraud": pl.Boolean(), "pattern": pl.String(),
    "labelled_at": pl.Datetime("us", "UTC"), "source": pl.String()}
_CARD_EVENTS = ["card_capture", "card_authorization"]


@dataclass(frozen=True)
class LabelDelays:
    """Label delay distributions (log-normal: median days and sigma) and label noise."""

    fraud_analyst_median_days: float = 2.0
    fraud_analyst_sigma: float = 0.6
    #: Share of card-fraud cases that come back as chargebacks rather than analyst decisions.
    chargeback_share: float = 0.6
    chargeback_median_days: float = 12.0
    chargeback_sigma: float = 0.45
    aml_median_days: float = 25.0
    aml_sigma: float = 0.4
    #: Share of suspicious cases never labelled (missed fraud: label noise).
    missed_share: float = 0.05
    #: Share of legitimate events labelled not-fraud (alerts cleared by analysts).
    cleared_share: float = 0.005


def label_rows(scene: Scene, rows: pl.DataFrame, delays: LabelDelays,
               end_us: int | None) -> pl.DataFrame:
    """(key, labelled_us, is_fraud, pattern, source, event_type): labels known before end."""
    rng = scene.rng
    suspicious = rows.filter("is_fraud")
    cases = suspicious.group_by("case_id").agg(pl.col("pattern").first()).sort("case_id")
    k = cases.height
    aml = cases["pattern"].is_in(list(AML_PATTERNS)).to_numpy()
    chargeback = ~aml & (rng.random(k) < delays.chargeback_share)
    median = np.where(aml, delays.aml_median_days, np.where(
        chargeback, delays.chargeback_median_days, delays.fraud_analyst_median_days))
    sigma = np.where(aml, delays.aml_sigma, np.where(chargeback, delays.chargeback_sigma,
                                                    delays.fraud_analyst_sigma))
    case_delay = (median * rng.lognormal(0, sigma, k) * DAY_US).astype(np.int64)
    cases = cases.with_columns(
        delay=pl.Series(case_delay), chargeback=pl.Series(chargeback),
        found=pl.Series(rng.random(k) >= delays.missed_share)).drop("pattern")
    found = suspicious.join(cases, on="case_id").filter("found").sort("key")
    # A case is closed at once; card payments are disputed one by one (own chargeback delay).
    own_delay = (delays.chargeback_median_days * rng.lognormal(
        0, delays.chargeback_sigma, found.height) * DAY_US).astype(np.int64)
    is_chargeback = pl.col("chargeback") & pl.col("event_type").is_in(_CARD_EVENTS)
    fraud_labels = found.select(
        "key", "pattern", "event_type", is_fraud=pl.lit(True),
        labelled_us=pl.col("occurred_us")
        + pl.when(is_chargeback).then(pl.Series(own_delay)).otherwise(pl.col("delay"))
        + pl.Series(rng.integers(0, 4 * HOUR_US, found.height)),
        source=pl.when(is_chargeback).then(pl.lit("chargeback")).otherwise(pl.lit("analyst")))
    legit = rows.filter(~pl.col("is_fraud")).sort("key")
    cleared = legit.filter(pl.Series(rng.random(legit.height) < delays.cleared_share))
    cleared_labels = cleared.select(
        "key", "pattern", "event_type", is_fraud=pl.lit(False),
        labelled_us=pl.col("occurred_us")
        + pl.Series(rng.integers(DAY_US // 2, 3 * DAY_US, cleared.height)),
        source=pl.lit("analyst"))
    out = pl.concat([fraud_labels, cleared_labels], how="vertical")
    return out if end_us is None else out.filter(pl.col("labelled_us") < end_us)


def chargebacks(scene: Scene, rows: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """A chargeback event (money back to the cardholder) for each charged-back card capture."""
    charged = labels.filter(source="chargeback", event_type="card_capture").select(
        "key", "labelled_us")
    origin = rows.join(charged, on="key").sort("key")
    return origin.with_columns(
        key=pl.Series(scene.keys(origin.height), dtype=pl.Int64), original_key="key",
        occurred_us="labelled_us", event_type=pl.lit("chargeback"), channel=pl.lit("api"),
        device_id=pl.lit(None, pl.String), ip_address=pl.lit(None, pl.String),
        fee_minor=pl.lit(None, pl.Int64), is_fraud=pl.lit(False), pattern=pl.lit(None, pl.String),
        case_id=pl.lit(None, pl.Int64)).select(rows.columns)


def labels_frame(labels: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Label rows → the public labels frame, sorted by when each label became known."""
    from simulator.rows import transaction_ids

    return (labels.select(
        transaction_id=transaction_ids(pl.col("key"), seed), is_fraud="is_fraud",
        pattern="pattern", labelled_at=pl.col("labelled_us").cast(pl.Datetime("us", "UTC")),
        source="source")
        .cast(LABEL_SCHEMA)  # type: ignore[arg-type]
        .sort("labelled_at", "transaction_id"))
