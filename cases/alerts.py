"""Recording alerts: de-duplicated per (entity, source), idempotent per (transaction, source).

:func:`record` takes the stream's alerts of one batch and, in the caller's transaction, with a
handful of statements whatever the batch's size:

1. claims the hits in ``alert_hits`` by ``(transaction_id, source)``, one bulk
   ``INSERT … ON CONFLICT DO NOTHING`` — a redelivered or re-processed transaction claims
   nothing and changes nothing; a repeat within the batch counts once (its first);
2. on PostgreSQL takes the new hits' (account, source) keys' advisory locks, in key order
   (:func:`_lock_keys`: a second worker with the same key waits for this one's commit), then
   reads their open alerts in one query, ``FOR UPDATE`` (an analyst's decision closing one
   waits, or is seen);
3. opens the missing ones in one bulk insert, each in its account's active case (the cases
   missing too are opened in one bulk insert); the partial unique index still refuses a
   second open alert per key (then this batch's hits go on the one that is there);
4. accumulates the hits on the open alerts in one bulk update — count, highest score and
   amount, first and last seen, priority, the reasons of the highest-scoring hit — and points
   the hits at their alerts in another.

Hits fold onto an alert one by one in the batch's order (:func:`_fold`), so a batch leaves the
store as recording its hits one at a time would: how the stream cuts batches changes nothing.

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

from sqlalchemy import Connection, bindparam, select, text, update

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
        """From a record of topic ``alerts`` (``streams.rows.alert``)."""
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
    """Record one batch's hits in the caller's transaction; returns how many were new.

    Set-based: a handful of statements whatever the batch's size (the module doc's steps),
    each over the batch's rows in one order (sorted keys), so two workers on PostgreSQL take
    their row locks in the same order and cannot deadlock on each other.
    """
    batch = _first_of_each(hits)
    if not batch:
        return 0
    claimed = _claim(conn, batch)
    new = [h for h in batch if (h.transaction_id, h.source) in claimed]
    if not new:
        return 0
    groups: dict[tuple[str, str], list[Hit]] = {}
    for h in new:  # in the batch's (the stream's) order: the fold below depends on it
        groups.setdefault((h.account_id, h.source), []).append(h)
    _lock_keys(conn, sorted(groups))
    found = _open_alerts(conn, sorted(groups))
    opened = _open_new(conn, {k: g for k, g in groups.items() if k not in found})
    # A key whose alert was opened since our read (by a writer without the key locks): the
    # partial unique index refused ours, and the alert that is there takes our hits.
    lost = sorted(k for k in groups if k not in found and k not in opened)
    found.update(_open_alerts(conn, lost))
    if missing := [k for k in lost if k not in found]:
        raise RuntimeError(f"no open alert for {missing[:3]} after a conflicting insert")
    changed = []
    for key in sorted(found):
        state = dict(found[key])
        for h in groups[key]:
            _fold(state, h)
        changed.append(state)
    if changed:
        conn.execute(update(alerts).where(alerts.c.alert_id == bindparam("b_alert_id"))
                     .values({c: bindparam(f"b_{c}") for c in _ACCUMULATED}),
                     [{f"b_{c}": s[c] for c in ("alert_id", *_ACCUMULATED)} for s in changed])
    alert_of = {k: str(s["alert_id"]) for k, s in {**found, **opened}.items()}
    conn.execute(update(alert_hits).where(alert_hits.c.transaction_id == bindparam("b_tx"),
                                          alert_hits.c.source == bindparam("b_source"))
                 .values(alert_id=bindparam("b_alert_id")),
                 [{"b_tx": h.transaction_id, "b_source": h.source,
                   "b_alert_id": alert_of[(h.account_id, h.source)]} for h in new])
    return len(new)


#: The columns a further hit changes on an open alert (:func:`_fold`).
_ACCUMULATED = ("hits", "score_max", "priority", "amount_minor_max", "first_seen", "last_seen",
                "source_version", "reason_codes")


def _first_of_each(hits: Iterable[Hit]) -> list[Hit]:
    """The batch without repeats of a (transaction, source): the first one counts, as when
    the hits are recorded one at a time (the repeat's claim would find the first's)."""
    seen: set[tuple[str, str]] = set()
    first = []
    for h in hits:
        if (h.transaction_id, h.source) not in seen:
            seen.add((h.transaction_id, h.source))
            first.append(h)
    return first


def _claim(conn: Connection, batch: list[Hit]) -> set[tuple[str, str]]:
    """Insert the hits the database does not have yet; the keys it inserted."""
    insert = dialect_insert(conn.dialect.name)
    rows = [{"transaction_id": h.transaction_id, "source": h.source, "alert_id": None,
             "account_id": h.account_id, "merchant_id": h.merchant_id,
             "device_id": h.device_id, "counterparty_account_id": h.counterparty_account_id,
             "score": h.score, "amount_minor": h.amount_minor, "currency": h.currency,
             "occurred_at": h.occurred_at, "reason_codes": json.dumps(list(h.reason_codes)),
             "typology": h.typology,
             "evidence": None if h.evidence is None else json.dumps(h.evidence)}
            for h in sorted(batch, key=lambda h: (h.transaction_id, h.source))]
    return {(r[0], r[1]) for r in conn.execute(
        insert(alert_hits).on_conflict_do_nothing()
        .returning(alert_hits.c.transaction_id, alert_hits.c.source), rows)}


#: Seed of the (account, source) advisory locks' hash (PostgreSQL), a constant of the project's.
ALERT_LOCK_SEED = 1281


def _lock_keys(conn: Connection, keys: list[tuple[str, str]]) -> None:
    """PostgreSQL: take the (account, source) keys' advisory locks until commit, in key order.

    Two workers with the same key then run its read-open-or-insert-then-update one after the
    other; without it, the loser of an alert insert (the partial unique index refuses it)
    would lock the winner's alert late, out of key order, and deadlock with the winner's next
    batch. The hash includes the schema (advisory locks are per database); a collision only
    makes two keys wait for each other. SQLite has one writer at a time."""
    if conn.dialect.name != "postgresql" or not keys:
        return
    conn.execute(text(
        "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '|' || k, :seed)) "
        "FROM unnest(CAST(:keys AS text[])) AS k"),  # in the array's (sorted) order
        {"keys": [f"{account}|{source}" for account, source in keys], "seed": ALERT_LOCK_SEED})


def _open_alerts(conn: Connection, keys: list[tuple[str, str]]
                 ) -> dict[tuple[str, str], dict[str, Any]]:
    """The open alerts of ``keys`` ((account, source)), locked until the transaction ends
    (PostgreSQL ``FOR UPDATE``, in key order; SQLite has one writer at a time and no
    ``FOR UPDATE``, which SQLAlchemy leaves out): a concurrent worker's hits on the same alert
    wait, then add to what this one wrote instead of overwriting it."""
    if not keys:
        return {}
    wanted = set(keys)
    rows = conn.execute(select(alerts).where(
        alerts.c.entity_type == "account", alerts.c.status == OPEN,
        alerts.c.entity_id.in_(sorted({a for a, _ in keys})),
        alerts.c.source.in_(sorted({s for _, s in keys})))
        .order_by(alerts.c.entity_id, alerts.c.source).with_for_update())
    return {key: dict(r._mapping) for r in rows
            if (key := (r.entity_id, r.source)) in wanted}


def _open_new(conn: Connection, groups: dict[tuple[str, str], list[Hit]]
              ) -> dict[tuple[str, str], dict[str, Any]]:
    """Open an alert for each key of ``groups``, in its account's active case, with the
    group's hits folded in; the ones inserted (a key another worker opened meanwhile is not:
    the partial unique index refuses it)."""
    if not groups:
        return {}
    case_of = _active_cases(conn, sorted({a for a, _ in groups}))
    states = {}
    for (account, source), group in sorted(groups.items()):
        first, *rest = group
        state = {
            "alert_id": digest_id("alert", source, account, first.transaction_id),
            "source": source, "source_version": first.source_version,
            "entity_type": "account", "entity_id": account, "status": OPEN,
            "priority": priority(first.score, 1, first.customer_risk),
            "score_max": first.score, "hits": 1, "amount_minor_max": first.amount_minor,
            "currency": first.currency, "reason_codes": json.dumps(list(first.reason_codes)),
            "first_seen": first.occurred_at, "last_seen": first.occurred_at,
            "case_id": case_of[account], "decision": None, "closed_at": None,
            "typology": first.typology}
        for h in rest:
            _fold(state, h)
        states[(account, source)] = state
    insert = dialect_insert(conn.dialect.name)
    inserted = {r[0] for r in conn.execute(
        insert(alerts).on_conflict_do_nothing().returning(alerts.c.alert_id),
        list(states.values()))}
    return {k: s for k, s in states.items() if s["alert_id"] in inserted}


def _fold(state: dict[str, Any], h: Hit) -> None:
    """One more hit on an alert: count, highest score (and its reasons) and amount, first and
    last seen, priority with the hit's risk band, the hit's source version."""
    hits = state["hits"] + 1
    score = max(state["score_max"], h.score)
    if h.score > state["score_max"]:
        state["reason_codes"] = json.dumps(list(h.reason_codes))
    state.update(
        hits=hits, score_max=score, priority=priority(score, hits, h.customer_risk),
        amount_minor_max=max(state["amount_minor_max"], h.amount_minor),
        first_seen=min(state["first_seen"], h.occurred_at),
        last_seen=max(state["last_seen"], h.occurred_at), source_version=h.source_version)


def _active_cases(conn: Connection, accounts: list[str]) -> dict[str, str]:
    """Each account's active case, opened (state ``new``) for those that have none.

    ``state <> 'decided'`` is the partial unique index's own condition, so SQLite reads the
    index (``state IN`` the active states does not let it: it scanned every active case)."""
    def active() -> dict[str, str]:
        return {r.account_id: str(r.case_id) for r in conn.execute(
            select(cases.c.case_id, cases.c.account_id).where(
                cases.c.account_id.in_(accounts), cases.c.state != "decided"))}

    found = active()
    if len(found) == len(accounts):
        return found
    now = datetime.now(UTC)
    insert = dialect_insert(conn.dialect.name)
    conn.execute(insert(cases).on_conflict_do_nothing(), [{
        "case_id": digest_id("case", account, now.isoformat()), "account_id": account,
        "state": "new", "assignee": None, "opened_at": now, "updated_at": now,
        "decided_at": None, "decision": None} for account in accounts if account not in found])
    return active()  # with another worker's, where it opened the account's case first
