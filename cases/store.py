"""``CaseStore``: the workbench's database, one transaction per call.

>>> store = CaseStore("sqlite://")
>>> store.add_user("ana", "analyst", "a long enough password").role
'analyst'
>>> from datetime import UTC, datetime
>>> t = datetime(2026, 12, 1, 9, tzinfo=UTC)
>>> alert = dict(transaction_id="tx-1", account_id="acc-1", merchant_id=None, score=0.97,
...              model_version="flowlet-fraud/3", amount_minor=25_000, currency="EUR",
...              occurred_at=t.isoformat(), reason_codes=["amount_log10:+1.2"])
>>> store.record_alerts([alert]), store.record_alerts([alert])  # a redelivery adds nothing
(1, 0)
>>> (case,) = store.cases(); case["state"], case["alerts"]
('new', 1)
>>> outcome = store.decide(case["case_id"], "confirmed_fraud", "ana", "card reported stolen")
>>> [(label.labelled_transaction_id, label.is_fraud) for label in outcome.labels]
[('tx-1', True)]
>>> store.verify_audit()  # the user, the note, the decision
(3, None)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, func, select

from cases import alerts as alert_records
from cases import audit, metrics, users, workflow
from cases.migrate import migrate
from cases.schema import alert_hits, alerts, audit_log, cases, notes
from core.db import make_engine

#: Columns the queue may be sorted by (client-chosen sort keys are never SQL).
QUEUE_SORTS = {"priority": alerts.c.priority.desc(), "last_seen": alerts.c.last_seen.desc(),
               "score": alerts.c.score_max.desc(), "amount": alerts.c.amount_minor_max.desc()}


class CaseStore:
    def __init__(self, url: str | Engine) -> None:
        self.engine = url if isinstance(url, Engine) else make_engine(url)
        migrate(self.engine)

    # -- from the stream ---------------------------------------------------------------------
    def record_alerts(self, records: Iterable[Mapping[str, Any]]) -> int:
        """The stream's alert records of one batch; returns the new hits (0 on redelivery)."""
        hits = [alert_records.Hit.from_stream(r) for r in records]
        with self.engine.begin() as conn:
            return alert_records.record(conn, hits)

    # -- reading -----------------------------------------------------------------------------
    def alerts(self, *, status: str | None = "open", source: str | None = None,
               min_score: float | None = None, assignee: str | None = None,
               account_id: str | None = None, sort: str = "priority",
               limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        query = select(alerts, cases.c.state.label("case_state"), cases.c.assignee).join(
            cases, cases.c.case_id == alerts.c.case_id)
        if status:
            query = query.where(alerts.c.status == status)
        if source:
            query = query.where(alerts.c.source == source)
        if min_score is not None:
            query = query.where(alerts.c.score_max >= min_score)
        if assignee:
            query = query.where(cases.c.assignee == assignee)
        if account_id:
            query = query.where(alerts.c.entity_id == account_id)
        query = query.order_by(QUEUE_SORTS[sort], alerts.c.alert_id).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def alert(self, alert_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(alerts).where(alerts.c.alert_id == alert_id)).first()
        return dict(row._mapping) if row else None

    def cases(self, *, state: str | None = None, assignee: str | None = None,
              limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        counts = (select(alerts.c.case_id, func.count().label("alerts"),
                         func.max(alerts.c.priority).label("priority"))
                  .group_by(alerts.c.case_id).subquery())
        query = select(cases, counts.c.alerts, counts.c.priority).join(
            counts, counts.c.case_id == cases.c.case_id)
        if state:
            query = query.where(cases.c.state == state)
        if assignee:
            query = query.where(cases.c.assignee == assignee)
        query = query.order_by(counts.c.priority.desc(), cases.c.opened_at,
                               cases.c.case_id).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def case(self, case_id: str) -> dict[str, Any] | None:
        """The case with its alerts, evidence and notes (None when unknown)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(cases).where(cases.c.case_id == case_id)).first()
            if row is None:
                return None
            return {
                **dict(row._mapping),
                "alerts": [dict(r._mapping) for r in conn.execute(
                    select(alerts).where(alerts.c.case_id == case_id)
                    .order_by(alerts.c.priority.desc()))],
                "evidence": workflow.evidence(conn, case_id),
                "notes": [dict(r._mapping) for r in conn.execute(
                    select(notes).where(notes.c.case_id == case_id).order_by(notes.c.note_id))],
            }

    def hits_of(self, transaction_ids: Sequence[str]) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(
                select(alert_hits).where(alert_hits.c.transaction_id.in_(transaction_ids)))]

    # -- people's actions --------------------------------------------------------------------
    def assign(self, case_id: str, assignee: str, actor: str) -> dict[str, Any]:
        with self.engine.begin() as conn:
            return workflow.assign(conn, case_id, assignee, actor)

    def start_review(self, case_id: str, actor: str) -> dict[str, Any]:
        with self.engine.begin() as conn:
            return workflow.start_review(conn, case_id, actor)

    def add_note(self, case_id: str, text: str, actor: str) -> dict[str, Any]:
        with self.engine.begin() as conn:
            return workflow.add_note(conn, case_id, text, actor)

    def decide(self, case_id: str, decision: str, actor: str,
               note: str = "") -> workflow.Outcome:
        with self.engine.begin() as conn:
            return workflow.decide(conn, case_id, decision, actor, note)

    # -- users and the audit log -------------------------------------------------------------
    def add_user(self, username: str, role: str, password: str,
                 actor: str = "flowlet-cli") -> users.User:
        with self.engine.begin() as conn:
            user = users.add(conn, username, role, password)
            audit.append(conn, actor, "user_add", "user", username, None, {"role": role})
            return user

    def set_disabled(self, username: str, disabled: bool = True,
                     actor: str = "flowlet-cli") -> users.User:
        with self.engine.begin() as conn:
            before = users.get(conn, username)
            user = users.set_disabled(conn, username, disabled)
            audit.append(conn, actor, "user_disable" if disabled else "user_enable", "user",
                         username, {"disabled": before.disabled if before else None},
                         {"disabled": disabled})
            return user

    def users(self) -> list[users.User]:
        with self.engine.connect() as conn:
            return users.listing(conn)

    def authenticate(self, username: str, password: str, *, channel: str) -> users.User | None:
        """Check a login and audit it, success or failure (``channel``: api, dashboard)."""
        with self.engine.begin() as conn:
            user = users.authenticate(conn, username, password)
            audit.append(conn, username[:64] or "?", "login" if user else "login_failed",
                         "user", username[:128] or "?", None, {"channel": channel})
            return user

    def decision_figures(self) -> dict[str, Any]:
        """Precision per source and version, decisions per day, time to decision."""
        with self.engine.connect() as conn:
            return {"precision": metrics.precision_by_source(conn),
                    "per_day": metrics.decisions_per_day(conn),
                    "time_to_decision": metrics.time_to_decision(conn)}

    def verify_audit(self) -> tuple[int, str | None]:
        with self.engine.connect() as conn:
            return audit.verify(conn)

    def audit_entries(self, object_id: str | None = None, limit: int = 200
                      ) -> list[dict[str, Any]]:
        query = select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
        if object_id:
            query = query.where(audit_log.c.object_id == object_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
