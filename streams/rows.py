"""What a scored transaction becomes: its lake row (:mod:`core.lake_schema`'s columns, then the
``f_<feature>`` values) and, when it alerts, the record published to topic ``alerts``; and the
FX rate records of topic ``fx_rates``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from core.contract import TransactionEvent
from core.lake_schema import FEATURE_PREFIX
from ledger import PostingResult
from models.serving.batch import ScoredBatch

if TYPE_CHECKING:
    from streams.pipeline import RawRecord


def lake_rows(events: Sequence[TransactionEvent], vectors: Sequence[dict[str, float]],
              scored: ScoredBatch, results: Sequence[PostingResult], processed_at: datetime,
              sources: Sequence[RawRecord] | None = None) -> list[dict[str, Any]]:
    """A scored batch's rows as the lake stores them: the columns of :mod:`core.lake_schema`,
    in order, then the ``f_<feature>`` values; ``results[i]`` is event ``i``'s ledger result.

    Built for the whole batch at once: the score arrays become Python lists once (indexing a
    NumPy array per row and value was most of a row's cost) and the feature columns' names are
    prefixed once per key order, not per row."""
    score = scored.score.tolist()
    supervised = _numbers(scored.score_supervised)
    anomaly = _numbers(scored.score_anomaly)
    is_alert = [bool(x) for x in scored.is_alert.tolist()]
    shadow = None if scored.shadow_score is None else _numbers(scored.shadow_score)
    model, shadow_model = scored.model_ref, scored.shadow_model_ref
    prefixed: dict[tuple[str, ...], tuple[str, ...]] = {}
    rows = []
    for i, (ev, vector, result) in enumerate(zip(events, vectors, results, strict=True)):
        source = sources[i] if sources else None
        row = {
            "transaction_id": ev.transaction_id,
            "event_type": ev.event_type.value,
            "occurred_at": ev.occurred_at,
            "amount_minor": ev.amount_minor,
            "currency": ev.currency,
            "account_id": ev.account_id,
            "counterparty_account_id": ev.counterparty_account_id,
            "merchant_id": ev.merchant_id,
            "card_token": ev.card_token,
            "device_id": ev.device_id,
            "country": ev.country,
            "channel": ev.channel.value,
            "mcc": ev.mcc,
            "ip_address": None if ev.ip_address is None else str(ev.ip_address),
            "target_currency": ev.target_currency,
            "target_amount_minor": ev.target_amount_minor,
            "fee_minor": ev.fee_minor,
            "original_transaction_id": ev.original_transaction_id,
            "score": score[i],
            "score_supervised": supervised[i],
            "score_anomaly": anomaly[i],
            "reason_codes": scored.reason_codes[i],
            "model_version": model,
            "is_alert": is_alert[i],
            "shadow_score": None if shadow is None else shadow[i],
            "shadow_model_version": shadow_model,
            "ledger_status": result.journal_status,
            "ledger_reason": result.reason,
            "source_partition": source.partition if source and source.partition >= 0 else None,
            "source_offset": source.offset if source and source.offset >= 0 else None,
            "processed_at": processed_at,
        }
        keys = tuple(vector)
        names = prefixed.get(keys)
        if names is None:
            names = prefixed[keys] = tuple(FEATURE_PREFIX + k for k in keys)
        row.update(zip(names, map(float, vector.values()), strict=True))
        rows.append(row)
    return rows


def alert(row: dict[str, Any], threshold: float, raised_at: datetime) -> dict[str, Any]:
    """The record published to topic ``alerts`` for an alerting lake row."""
    return {
        "alert_id": f"alert-{row['transaction_id']}",
        "transaction_id": row["transaction_id"],
        "account_id": row["account_id"],
        "merchant_id": row["merchant_id"],
        # what a decision's labels name besides the merchant (``cases.workflow``)
        "device_id": row["device_id"],
        "counterparty_account_id": row["counterparty_account_id"]
        if row["event_type"] == "p2p_transfer" else None,
        "amount_minor": row["amount_minor"],
        "currency": row["currency"],
        "source": "model",
        "score": row["score"],
        "alert_threshold": threshold,
        "model_version": row["model_version"],
        "reason_codes": row["reason_codes"] or [],
        "occurred_at": row["occurred_at"].isoformat(),
        "raised_at": raised_at.isoformat(),
    }


def _numbers(values: np.ndarray) -> list[float | None]:
    """Floats for the lake; NaN (a member the model does not have) becomes NULL."""
    return [None if x != x else x for x in np.asarray(values, dtype=np.float64).tolist()]


class FxRate(BaseModel):
    """A rate record on topic ``fx_rates``: ``quote`` units per one ``base`` unit."""

    model_config = ConfigDict(extra="forbid")
    base: str = Field(pattern=r"^[A-Z]{3}$")
    quote: str = Field(pattern=r"^[A-Z]{3}$")
    rate: Decimal = Field(gt=0, max_digits=24, decimal_places=12)
    as_of: AwareDatetime
    source: str = "stream"


def encode_alert(alert: dict[str, Any]) -> bytes:
    return json.dumps(alert, separators=(",", ":")).encode()
