"""What people do with cases: assign, review, note, decide — each checked, applied and audited
in one transaction.

States: ``new`` → ``assigned`` → ``in_review`` → ``decided``; ``escalated`` (to a lead) from any
open state, and back to ``in_review`` when a lead takes it. A decision:

* ``confirmed_fraud`` / ``not_fraud`` — closes the case and its alerts and **becomes a label**
  for every transaction in the case's evidence (:class:`core.contract.LabelEvent`, returned to
  the caller to publish: the API's outbox puts it on the stream, where the delayed-label
  features and the lake take it);
* ``report_filed`` (lead or admin) — a suspicious-activity report: closes the case as fraud
  confirmed, with labels, like ``confirmed_fraud``;
* ``needs_information`` — stays open (``in_review``), with the note saying what is missing;
* ``escalate`` — ``escalated``, for a lead.

A refused action (:class:`WorkflowError`, with the HTTP status it maps to) changes nothing and
writes no audit entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, update

from cases import audit, users
from cases.alerts import ACTIVE_STATES, CLOSED, OPEN, PROFILE_HIT_PREFIX, digest_id
from cases.schema import alert_hits, alerts, cases, notes
from core.contract import LabelEvent

DECISIONS = ("confirmed_fraud", "not_fraud", "needs_information", "escalate", "report_filed")
CLOSING = {"confirmed_fraud": True, "not_fraud": False, "report_filed": True}  # → is_fraud


class WorkflowError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Outcome:
    case: dict[str, Any]
    labels: list[LabelEvent]


def _case(conn: Connection, case_id: str, *, lock: bool = True) -> dict[str, Any]:
    query = select(cases).where(cases.c.case_id == case_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise WorkflowError(404, f"no case {case_id!r}")
    return dict(row._mapping)


def _open(case: dict[str, Any]) -> None:
    if case["state"] not in ACTIVE_STATES:
        raise WorkflowError(409, f"case {case['case_id']} is {case['state']}: it cannot change")


def _actor(conn: Connection, username: str) -> users.User:
    try:
        return users.active(conn, username)
    except users.UserError as exc:
        raise WorkflowError(403, str(exc)) from exc


def _change(conn: Connection, actor: str, action: str, case: dict[str, Any],
            **values: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    conn.execute(update(cases).where(cases.c.case_id == case["case_id"])
                 .values(updated_at=now, **values))
    before = {k: case[k] for k in values}
    audit.append(conn, actor, action, "case", case["case_id"], before, values)
    return {**case, **values, "updated_at": now}


def assign(conn: Connection, case_id: str, assignee: str, actor: str) -> dict[str, Any]:
    who = _actor(conn, actor)
    if assignee != actor and not who.at_least("lead"):
        raise WorkflowError(403, "only a lead or admin assigns a case to someone else")
    try:
        users.active(conn, assignee)
    except users.UserError as exc:
        raise WorkflowError(422, f"assignee: {exc}") from exc
    case = _case(conn, case_id)
    _open(case)
    state = "assigned" if case["state"] in ("new", "assigned") else case["state"]
    return _change(conn, actor, "assign", case, assignee=assignee, state=state)


def start_review(conn: Connection, case_id: str, actor: str) -> dict[str, Any]:
    who = _actor(conn, actor)
    case = _case(conn, case_id)
    _open(case)
    if case["state"] == "escalated" and not who.at_least("lead"):
        raise WorkflowError(403, "an escalated case is reviewed by a lead")
    return _change(conn, actor, "review", case, state="in_review", assignee=actor)


def add_note(conn: Connection, case_id: str, text: str, actor: str) -> dict[str, Any]:
    _actor(conn, actor)
    text = text.strip()
    if not text:
        raise WorkflowError(422, "note: empty")
    case = _case(conn, case_id)
    now = datetime.now(UTC)
    conn.execute(notes.insert().values(case_id=case_id, author=actor, at=now, text=text))
    audit.append(conn, actor, "note", "case", case_id, None, {"text": text})
    return case


def decide(conn: Connection, case_id: str, decision: str, actor: str,
           note: str = "") -> Outcome:
    who = _actor(conn, actor)
    if decision not in DECISIONS:
        raise WorkflowError(422, f"decision must be one of {', '.join(DECISIONS)}")
    if decision == "report_filed" and not who.at_least("lead"):
        raise WorkflowError(403, "filing a report needs a lead or admin")
    case = _case(conn, case_id)
    _open(case)
    if case["state"] == "escalated" and not who.at_least("lead"):
        raise WorkflowError(403, "an escalated case is decided by a lead")
    if note.strip():
        add_note(conn, case_id, note, actor)
    now = datetime.now(UTC)
    if decision == "needs_information":
        return Outcome(_change(conn, actor, "decide", case, state="in_review",
                               decision=decision), [])
    if decision == "escalate":
        return Outcome(_change(conn, actor, "decide", case, state="escalated",
                               decision=decision), [])
    changed = _change(conn, actor, "decide", case, state="decided", decision=decision,
                      decided_at=now)
    conn.execute(update(alerts).where(alerts.c.case_id == case_id, alerts.c.status == OPEN)
                 .values(status=CLOSED, decision=decision, closed_at=now))
    return Outcome(changed, _labels(conn, case_id, CLOSING[decision], now))


def _labels(conn: Connection, case_id: str, is_fraud: bool, at: datetime) -> list[LabelEvent]:
    """A label per transaction of the case's evidence (its alerts' hits; a hit on a customer
    profile is no transaction and gets none)."""
    rows = conn.execute(
        select(alert_hits.c.transaction_id, alert_hits.c.account_id, alert_hits.c.merchant_id,
               alert_hits.c.occurred_at, alert_hits.c.device_id,
               alert_hits.c.counterparty_account_id)
        .join(alerts, alerts.c.alert_id == alert_hits.c.alert_id)
        .where(alerts.c.case_id == case_id,
               ~alert_hits.c.transaction_id.startswith(PROFILE_HIT_PREFIX, autoescape=True))
        .order_by(alert_hits.c.occurred_at)).all()
    return [LabelEvent(label_id=label_id(tid, case_id), labelled_transaction_id=tid,
                       account_id=account, merchant_id=merchant, device_id=device,
                       counterparty_account_id=payee,
                       transaction_occurred_at=occurred, occurred_at=max(at, occurred),
                       is_fraud=is_fraud, source="analyst")
            # One per transaction, even when several sources' hits name it.
            for tid, account, merchant, occurred, device, payee
            in {r[0]: r for r in rows}.values()]


def label_id(transaction_id: str, case_id: str) -> str:
    """The label's idempotency key: one per (transaction, case decision)."""
    return digest_id("lbl", transaction_id, case_id, length=40)


def evidence(conn: Connection, case_id: str) -> list[dict[str, Any]]:
    """The case's alerting transactions, newest first, with their reasons."""
    rows = conn.execute(
        select(alert_hits).join(alerts, alerts.c.alert_id == alert_hits.c.alert_id)
        .where(alerts.c.case_id == case_id).order_by(alert_hits.c.occurred_at.desc())).all()
    return [{**dict(r._mapping), "reason_codes": json.loads(r.reason_codes),
             "evidence": json.loads(r.evidence) if r.evidence else None} for r in rows]
