"""Recording alerts: de-duplicated per (entity, source), idempotent per (transaction, source).

:func:`record` takes the stream's alerts of one batch and, in the caller's transaction:

1. claims each hit in ``alert_hits`` by ``(transaction_id, source)`` — a redelivered or
   re-processed transaction claims nothing and changes nothing;
2. for each (account, source) with new hits, finds its open alert or opens one (the partial
   unique index decides between two workers: the loser finds the winner's), attached to the
   account's active case (opened when there is none);
3. accumulates the hits on the alert: count, highest score and amount, last seen, priority,
   the reasons of its highest-scoring hit.

An analyst's decision closes a case's alerts (:mod:`cases.workflow`); a later hit on that
account opens a new alert and a new case.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, update

from cases.schema import alert_hits, alerts, cases
from core.db import dialect_insert

OPEN, CLOSED = "open", "closed"
ACTIVE_STATES = ("new", "assigned", "in_review", "escalated")
#: A hit on a customer profile (screening at onboarding) is keyed by the profile event's id
#: with this prefix: evidence on the account, not a transaction, so a decision labels nothing.
PROFILE_HIT_PREFIX = "customer:"
#: Priority points for the customer's risk band (customers.risk), added to the score's.
RISK_BAND_POINTS = {"high": 15, "medium": 5}


@dataclass(frozen=True)
class Hit:
    """One alerting transaction of one source (what the stream's ``alerts`` records carry)."""

    transaction_id: str
    source: str
    source_version: str
    account_id: str
    merchant_id: str | None
    score: float
    amount_minor: int
    currency: str
    occurred_at: datetime
    reason_codes: tuple[str, ...]
    customer_risk: str | None = None  # the account's risk band when the hit was raised
    #: AML typology detectors: the typology and the evidence (transactions, counterparties).
    typology: str | None = None
    evidence: Mapping[str, Any] | None = None
    #: The transaction's device and (P2P transfers) payee: a decision's labels name them.
    device_id: str | None = None
    counterparty_account_id: str | None = None

    @classmethod
    def from_stream(cls, alert: Mapping[str, Any]) -> Hit:
        """From a record of topic ``alerts`` (``streams.pipeline.alert``)."""
        occurred = alert["occurred_at"]
        if isinstance(occurred, str):
            occurred = datetime.fromisoformat(occurred)
        return cls(alert["transaction_id"], alert.get("source", "model"),
                   alert["model_version"], alert["account_id"], alert.get("merchant_id"),
                   float(alert["score"]),
                   int(alert["amount_minor"]), alert["currency"], occurred.astimezone(UTC),
                   tuple(alert.get("reason_codes") or ()),
                   customer_risk=alert.get("customer_risk"), typology=alert.get("typology"),
                   evidence=alert.get("evidence"), device_id=alert.get("device_id"),
                   counterparty_account_id=alert.get("counterparty_account_id"))


def priority(score: float, hits: int, customer_risk: str | None = None) -> int:
    """0–100: the highest score, raised a little by repeated hits and by the customer's risk
    band (high +15, medium +5), capped.

    >>> priority(0.9, 1), priority(0.9, 5), priority(1.0, 50)
    (90, 98, 100)
    >>> priority(0.6, 1, "high"), priority(0.6, 1, "medium"), priority(0.6, 1, "low")
    (75, 65, 60)
    """
    bonus = RISK_BAND_POINTS.get(customer_risk or "", 0)
    return min(100, round(100 * score) + 2 * min(hits - 1, 5) + bonus)


def _risk(group: list[Hit]) -> str | None:
    """The group's latest known risk band (the hits of one batch carry the same)."""
    return next((h.customer_risk for h in reversed(group) if h.customer_risk), None)


#: Hex digits 0-9 written as letters: a digest's digit runs could otherwise pass for a card
#: number, which the contract refuses in every identifier.
_NO_DIGITS = str.maketrans("0123456789", "ghijklmnop")


def digest_id(prefix: str, *parts: str, length: int = 20) -> str:
    """A deterministic id from ``parts``, letters only after the prefix.

    >>> digest_id("lbl", "tx-1", "case-1")
    'lbl-oliadbcjfenkpledcojj'
    """
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:length]
    return f"{prefix}-" + digest.translate(_NO_DIGITS)


def record(conn: Connection, hits: Iterable[Hit]) -> int:
    """Record one batch's hits; returns how many were new."""
    hits = list(hits)
    if not hits:
        return 0
    insert = dialect_insert(conn.dialect.name)
    claimed = set(conn.execute(
        insert(alert_hits).values([{
            "transaction_id": h.transaction_id, "source": h.source, "alert_id": None,
            "account_id": h.account_id, "merchant_id": h.merchant_id,
            "device_id": h.device_id, "counterparty_account_id": h.counterparty_account_id,
            "score": h.score,
            "amount_minor": h.amount_minor, "currency": h.currency, "occurred_at": h.occurred_at,
            "reason_codes": json.dumps(list(h.reason_codes)), "typology": h.typology,
            "evidence": None if h.evidence is None else json.dumps(h.evidence)} for h in hits])
        .on_conflict_do_nothing()
        .returning(alert_hits.c.transaction_id, alert_hits.c.source)).all())
    new = [h for h in hits if (h.transaction_id, h.source) in claimed]
    groups: dict[tuple[str, str], list[Hit]] = {}
    for h in new:
        groups.setdefault((h.account_id, h.source), []).append(h)
    for (account, source), group in sorted(groups.items()):
        alert_id = _open_alert(conn, account, source, group)
        conn.execute(update(alert_hits).where(
            alert_hits.c.source == source,
            alert_hits.c.transaction_id.in_([h.transaction_id for h in group]))
            .values(alert_id=alert_id))
    return len(new)


def _open_alert(conn: Connection, account: str, source: str, group: list[Hit]) -> str:
    top = max(group, key=lambda h: (h.score, h.amount_minor))
    first = min(group, key=lambda h: (h.occurred_at, h.transaction_id))
    last = max(h.occurred_at for h in group)
    row = conn.execute(select(alerts).where(
        alerts.c.entity_type == "account", alerts.c.entity_id == account,
        alerts.c.source == source, alerts.c.status == OPEN)).first()
    if row is None:
        case_id = _active_case(conn, account)
        alert_id = digest_id("alert", source, account, first.transaction_id)
        insert = dialect_insert(conn.dialect.name)
        conn.execute(insert(alerts).values(
            alert_id=alert_id, source=source, source_version=top.source_version,
            entity_type="account", entity_id=account, status=OPEN,
            priority=priority(top.score, len(group), _risk(group)), score_max=top.score,
            hits=len(group),
            amount_minor_max=max(h.amount_minor for h in group), currency=top.currency,
            reason_codes=json.dumps(list(top.reason_codes)), first_seen=first.occurred_at,
            last_seen=last, case_id=case_id, decision=None, closed_at=None,
            typology=top.typology,
        ).on_conflict_do_nothing())
        row = conn.execute(select(alerts).where(
            alerts.c.entity_type == "account", alerts.c.entity_id == account,
            alerts.c.source == source, alerts.c.status == OPEN)).first()
        if row.alert_id == alert_id:
            return alert_id
    hits = row.hits + len(group)
    better = top.score > row.score_max
    score = max(row.score_max, top.score)
    conn.execute(update(alerts).where(alerts.c.alert_id == row.alert_id).values(
        hits=hits, score_max=score, priority=priority(score, hits, _risk(group)),
        amount_minor_max=max(row.amount_minor_max, max(h.amount_minor for h in group)),
        last_seen=max(row.last_seen, last), source_version=top.source_version,
        reason_codes=json.dumps(list(top.reason_codes)) if better else row.reason_codes))
    return str(row.alert_id)


def _active_case(conn: Connection, account: str) -> str:
    """The account's active case, opened (state ``new``) when it has none."""
    query = select(cases.c.case_id).where(cases.c.account_id == account,
                                          cases.c.state.in_(ACTIVE_STATES))
    found = conn.execute(query).scalar()
    if found:
        return str(found)
    now = datetime.now(UTC)
    case_id = digest_id("case", account, now.isoformat())
    insert = dialect_insert(conn.dialect.name)
    conn.execute(insert(cases).values(
        case_id=case_id, account_id=account, state="new", assignee=None, opened_at=now,
        updated_at=now, decided_at=None, decision=None).on_conflict_do_nothing())
    return str(conn.execute(query).scalar())
