"""``ScreeningSource``: the stream's sanctions and PEP screening.

* payments: each transaction carrying a ``counterparty_name`` is screened
  (:meth:`ScreeningSource.evaluate`, an alert source of ``streams.pipeline``);
* customers: each profile event's name is screened at onboarding and at every KYC update
  (:meth:`ScreeningSource.on_customers`).

A hit at ``settings.screening_threshold`` or above becomes an alert record with source
``screening:sanctions`` or ``screening:pep``, the match score (0–1) and the evidence (list
entry id, subject, listed name, match score) as reason codes — unless an analyst whitelisted
that (subject, entry) pair (:mod:`screening.whitelist`). A profile's hit is keyed by
``customer:<event_id>`` (``cases.alerts.PROFILE_HIT_PREFIX``): evidence, not a transaction.

The list is the database's current version (``flowlet screening load``); a new load is picked
up at the next batch. Deterministic for a redelivered batch, so the alert store (idempotent per
(transaction, source)) adds nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from cases.alerts import PROFILE_HIT_PREFIX
from cases.migrate import migrate as migrate_cases
from core.contract import CustomerEvent, TransactionEvent
from screening.matcher import Match, Matcher
from screening.names import normalise
from screening.store import ListStore
from screening.whitelist import evidence, whitelisted

log = logging.getLogger(__name__)

#: The currency code of "no currency" (ISO 4217), for alerts on a profile.
NO_CURRENCY = "XXX"


class ScreeningSource:
    def __init__(self, engine: Engine, threshold: float) -> None:
        self.lists = ListStore(engine)
        migrate_cases(engine)  # the whitelist lives in the workbench's tables
        self.engine = engine
        self.threshold = threshold
        self.matcher = Matcher([], threshold)
        self.list_version = 0

    def _refresh(self) -> None:
        """Load the current list when its version moved (one small query per batch)."""
        if self.lists.version() == self.list_version:
            return
        version, entries = self.lists.current()
        self.matcher, self.list_version = Matcher(entries, self.threshold), version
        log.info("screening with list version %d (%d entries)", version, len(entries))

    def _hits(self, subject: str, name: str, pairs: set[tuple[str, str]]) -> list[Match]:
        return [m for m in self.matcher.match(name) if (subject, m.entry_id) not in pairs]

    def _alert(self, match: Match, subject: str, transaction_id: str, account_id: str,
               amount_minor: int, currency: str, occurred_at: datetime,
               merchant_id: str | None = None) -> dict[str, Any]:
        return {
            "alert_id": f"alert-{transaction_id}-{match.kind}",
            "transaction_id": transaction_id, "account_id": account_id,
            "merchant_id": merchant_id, "amount_minor": amount_minor, "currency": currency,
            "source": f"screening:{match.kind}", "score": match.score / 100,
            "alert_threshold": self.threshold / 100,
            "model_version": f"list/{self.list_version}",
            "reason_codes": evidence(subject, match.entry_id, match.listed_name, match.score),
            "occurred_at": occurred_at.isoformat(), "raised_at": datetime.now(UTC).isoformat(),
        }

    def _screen(self, subjects: list[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Alerts for (subject, name, alert fields) triples: the best match per kind."""
        self._refresh()
        if not subjects or not len(self.matcher):
            return []
        with self.engine.connect() as conn:
            pairs = whitelisted(conn)
        out = []
        for subject, name, fields in subjects:
            best: dict[str, Match] = {}
            for m in self._hits(subject, name, pairs):
                best.setdefault(m.kind, m)  # matches come best first
            out += [self._alert(m, subject, **fields) for m in best.values()]
        return out

    def evaluate(self, events: Sequence[TransactionEvent], features: object,
                 rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Screen the counterparty names of the batch's payments."""
        return self._screen([
            (f"name:{normalise(ev.counterparty_name)}", ev.counterparty_name,
             {"transaction_id": ev.transaction_id, "account_id": ev.account_id,
              "amount_minor": ev.amount_minor, "currency": ev.currency,
              "occurred_at": ev.occurred_at, "merchant_id": ev.merchant_id})
            for ev in events if ev.counterparty_name])

    def on_customers(self, customers: Sequence[CustomerEvent]) -> list[dict[str, Any]]:
        """Screen the names of the batch's customer profiles."""
        return self._screen([
            (f"customer:{c.account_id}", c.name,
             {"transaction_id": PROFILE_HIT_PREFIX + c.event_id, "account_id": c.account_id,
              "amount_minor": 0, "currency": NO_CURRENCY, "occurred_at": c.occurred_at})
            for c in customers])
