"""``TypologyDetectors``: the stream's AML typology detectors, an ``AlertSource``.

For each transaction of a micro-batch, in the order the stream applied them:

1. a transaction already seen (a redelivery, or a retried batch) gets exactly the alert
   records it raised the first time (kept for alerting transactions; the others are known by
   their flows in the state and raised nothing) — deterministic, and the alert store,
   idempotent per (transaction, source), adds nothing;
2. otherwise its flows join the state (the payer's ``out``/``in`` leg, the P2P receiver's
   ``in`` leg) and every detector looks at the payer; each finding at or above the alert
   threshold becomes an alert record like the model's (:func:`streams.rows.alert`) with
   ``source`` ``typology:<name>``, ``model_version`` ``<name>/<version>``, plain-word reason
   codes, and the keys ``typology`` and ``evidence`` (transaction ids and counterparties).

State is in memory, bounded (the longest window, ``max_flows_per_account``) and rebuilt at
start from the lake's last horizon of transactions (:meth:`TypologyDetectors.warm_up`), which
the worker writes after the alerts: so a restarted worker sees what it saw before.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from core.contract import TransactionEvent
from core.settings import Settings
from detectors.cash import dormant, structuring
from detectors.config import DetectorConfig
from detectors.context import IN_TYPES, OUT_TYPES, Context, Seen
from detectors.corridors import high_risk_corridor
from detectors.cycles import cycle
from detectors.network import fan_in_fan_out, pass_through
from detectors.scoring import Finding
from detectors.state import DetectorState

log = logging.getLogger(__name__)

Detector = Callable[[Context], Finding | None]
#: Every typology, its detector and version (bump the version when its logic changes).
DETECTORS: dict[str, tuple[Detector, int]] = {
    "structuring": (structuring, 1),
    "fan_in_fan_out": (fan_in_fan_out, 1),
    "pass_through": (pass_through, 1),
    "cycle": (cycle, 1),
    "dormant": (dormant, 1),
    "high_risk_corridor": (high_risk_corridor, 1),
}
TYPOLOGIES: tuple[str, ...] = tuple(DETECTORS)
SINCE_PREV = "acct_seconds_since_prev"
#: Expire the state after this many transactions.
_EXPIRE_EVERY = 20_000


class TypologyDetectors:
    """Runs every typology detector over the stream's batches (``streams.pipeline.AlertSource``).

    >>> from datetime import timedelta
    >>> t0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
    >>> deposits = [TransactionEvent(transaction_id=f"tx-{i}", event_type="top_up",
    ...     occurred_at=t0 + timedelta(hours=20 * i), amount_minor=950_000, currency="EUR",
    ...     account_id="acc-1", country="DE", channel="branch") for i in range(3)]
    >>> [(a["source"], a["transaction_id"]) for a in TypologyDetectors().evaluate(deposits)]
    [('typology:structuring', 'tx-2')]
    """

    def __init__(self, config: DetectorConfig | None = None,
                 typologies: Sequence[str] = TYPOLOGIES) -> None:
        self.config = config or DetectorConfig()
        unknown = sorted(set(typologies) - set(DETECTORS))
        if unknown:
            raise ValueError(f"unknown typologies {unknown}; known: {list(DETECTORS)}")
        self.detectors = [(name, *DETECTORS[name]) for name in typologies]
        self.state = DetectorState(self.config.horizon_us, self.config.max_flows_per_account)
        self._since_expiry = 0

    def evaluate(self, events: Sequence[TransactionEvent], features: pd.DataFrame | None = None,
                 rows: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
        """The alert records of a batch (``features``: one row per event, for the dormancy
        feature; ``rows`` are not needed)."""
        gaps = _column(features, SINCE_PREV, len(events))
        now = datetime.now(UTC)
        out: list[dict[str, Any]] = []
        for ev, gap in zip(events, gaps, strict=True):
            out += self.observe(seen_of(ev, gap), now)
        return out

    def observe(self, ev: Seen, raised_at: datetime) -> list[dict[str, Any]]:
        """One transaction: its alert records (the first time's again on a repeat)."""
        known = self.state.raised.get(ev.transaction_id)
        if known is not None:
            return known[1]
        if self.state.applied(ev.account_id, ev.transaction_id):
            return []  # seen, raised nothing
        self._apply(ev)
        ctx = Context(ev, self.state, self.config)
        records = []
        for name, detect, version in self.detectors:
            try:
                finding = detect(ctx)
            except Exception:  # a detector's bug must not stop the stream (nor the batch)
                log.exception("typology detector %s failed on %s", name, ev.transaction_id)
                continue
            if finding is not None and finding.score >= self.config.alert_threshold:
                records.append(alert_record(finding, ev, version, self.config.alert_threshold,
                                            raised_at))
        self.state.remember(ev.transaction_id, ev.t_us, records)
        self._since_expiry += 1
        if self._since_expiry >= _EXPIRE_EVERY:
            self.state.expire()
            self._since_expiry = 0
        return records

    def _apply(self, ev: Seen) -> None:
        state = self.state
        state.home(ev.account_id, ev.country)
        state.touch(ev.account_id, ev.t_us)
        leg = [ev.t_us, "", ev.amount_minor, ev.currency, ev.transaction_id, None,
               ev.event_type, ev.country]
        if ev.event_type in OUT_TYPES:
            state.add(ev.account_id, [*leg[:1], "out", *leg[2:5], ev.counterparty, *leg[6:]])
            if ev.counterparty is not None:
                state.add(ev.counterparty, [*leg[:1], "in", *leg[2:5], ev.account_id, *leg[6:]])
        elif ev.event_type in IN_TYPES:
            state.add(ev.account_id, [*leg[:1], "in", *leg[2:]])

    def warm_up(self, lake_dir: Any) -> int:
        """Rebuild the state from the lake's transactions of the last horizon; returns how
        many were replayed (alerts they raised are already stored: only remembered)."""
        from detectors.warmup import lake_history

        replayed = 0
        now = datetime.now(UTC)
        for ev in lake_history(lake_dir, self.config.horizon_us):
            self.observe(ev, now)
            replayed += 1
        if replayed:
            log.info("typology detectors warmed up from the lake: %d transactions", replayed)
        return replayed


def typology_detectors(settings: Settings, warm_up: bool = True) -> TypologyDetectors:
    """The worker's detectors: configured from ``settings``, state rebuilt from its lake."""
    detectors = TypologyDetectors(DetectorConfig.from_settings(settings))
    if warm_up:
        detectors.warm_up(settings.lake_dir)
    return detectors


def seen_of(ev: TransactionEvent, since_prev_s: float = math.nan) -> Seen:
    return Seen(ev.transaction_id, round(ev.occurred_at.timestamp() * 1_000_000),
                ev.event_type.value, ev.amount_minor, ev.currency, ev.account_id,
                ev.counterparty_account_id, ev.country, since_prev_s, ev.merchant_id)


def alert_record(finding: Finding, ev: Seen, version: int, threshold: float,
                 raised_at: datetime) -> dict[str, Any]:
    """A finding as a record of topic ``alerts`` (the shape of ``streams.rows.alert``)."""
    name = finding.typology
    return {
        "alert_id": f"alert-{name}-{ev.transaction_id}",
        "transaction_id": ev.transaction_id,
        "account_id": finding.account_id,
        "merchant_id": ev.merchant_id,
        # (the detectors do not see devices: a typology decision's labels reach no device)
        "counterparty_account_id": ev.counterparty if ev.event_type == "p2p_transfer" else None,
        "amount_minor": ev.amount_minor,
        "currency": ev.currency,
        "source": f"typology:{name}",
        "score": finding.score,
        "alert_threshold": threshold,
        "model_version": f"{name}/{version}",
        "reason_codes": finding.reasons,
        "occurred_at": datetime.fromtimestamp(ev.t_us / 1_000_000, UTC).isoformat(),
        "raised_at": raised_at.isoformat(),
        "typology": name,
        "evidence": finding.evidence(),
    }


def _column(features: pd.DataFrame | None, name: str, n: int) -> list[float]:
    if features is None or name not in features.columns or len(features) != n:
        return [math.nan] * n
    return [float(x) for x in features[name].to_numpy()]
