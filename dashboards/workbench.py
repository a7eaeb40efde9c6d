"""The analyst workbench's data for the pages: the alert queue, a case's customer, reasons in
plain words, and decisions whose labels go to the stream. Pure functions of a
:class:`cases.CaseStore`, a DuckDB connection over the lake or an outbox, tested without
Streamlit.

Times are shown in UTC, 24-hour, with the zone; amounts in major units with the currency
(:func:`core.contract.format_minor`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

import duckdb
import pandas as pd
from sqlalchemy import and_, false, or_, select

from cases import CaseStore, WorkflowError
from cases.schema import alerts, cases
from core.contract import MINOR_UNITS, LabelEvent, format_minor
from dashboards.account_rows import SIDES, in_list, newest_rows
from features import registry
from streams.outbox.labels import accept_labels
from streams.outbox.store import Outbox

#: Case states in the analyst's words, in workflow order.
STATES = {"new": "new", "assigned": "assigned", "in_review": "in review",
          "escalated": "escalated", "decided": "decided"}
ACTIVE = ("new", "assigned", "in_review", "escalated")
#: Decisions in the analyst's words (``report_filed`` needs a lead).
DECISION_WORDS = {"confirmed_fraud": "Confirmed fraud", "not_fraud": "Not fraud",
                  "needs_information": "Needs more information", "escalate": "Escalate to a lead",
                  "report_filed": "Report filed (suspicious activity)"}
#: Features whose catalogue description is a formula rather than words.
_PLAIN = {"amount_log10": "The amount", "hour_of_day_utc": "The hour of the day (UTC)",
          "event_type_code": "The kind of transaction", "channel_code": "The channel",
          "card_not_present": "The card was not present", "has_device": "A device was reported"}
#: Queue filter "seen within": label → hours (None: any time).
AGES = {"any time": None, "the last hour": 1, "the last 24 hours": 24, "the last 7 days": 168}


def when(t: datetime | pd.Timestamp | None) -> str:
    """A time for people: 24-hour, UTC, with the zone.

    >>> when(datetime(2026, 12, 7, 14, 3, 9, tzinfo=UTC))
    '2026-12-07 14:03:09 UTC'
    """
    if t is None or (isinstance(t, float) and math.isnan(t)) or pd.isna(t):
        return ""
    t = pd.Timestamp(t)
    t = t.tz_localize(UTC) if t.tzinfo is None else t.tz_convert(UTC)
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def age(since: datetime | None, now: datetime | None = None) -> str:
    """How long ago, in words an analyst reads at a glance (the SLA age).

    >>> t = datetime(2026, 12, 7, 12, tzinfo=UTC)
    >>> age(t, t + timedelta(minutes=5)), age(t, t + timedelta(hours=3, minutes=7))
    ('5 min', '3 h 07 min')
    >>> age(t, t + timedelta(days=2, hours=1))
    '2 d 1 h'
    """
    if since is None:
        return ""
    seconds = max(0, int(((now or datetime.now(UTC)) - since).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def _short(description: str) -> str:
    """A catalogue description without its fine print (for a table cell).

    >>> _short("Mean of the card's amounts in the event's currency (minor units) over the "
    ...        "last 1h, this one included")
    "Mean of the card's amounts over the last 1h"
    """
    text = re.sub(r" in the event's currency| \((minor units|NaN[^)]*)\)", "", description)
    return re.split(r", this (one|transfer) included", text)[0].strip()


@cache
def _descriptions() -> dict[str, str]:
    return {str(r["name"]): _short(str(r["description"])) for r in registry()}


def feature_descriptions() -> dict[str, str]:
    """Feature name → a short description in words (the catalogue's, or a plain one)."""
    return {**_descriptions(), **_PLAIN}


def reason_in_words(code: str) -> str:
    """``feature:+contribution`` as a sentence, from the feature catalogue.

    >>> reason_in_words("amount_log10:+1.2")
    'The amount — raised the risk (+1.20)'
    >>> reason_in_words("acct_count_1h:-0.31")
    "Number of the account's transactions over the last 1h — lowered the risk (-0.31)"
    >>> reason_in_words("something_new:+0.5")
    'something new — raised the risk (+0.50)'
    """
    name, _, value = code.partition(":")
    text = _PLAIN.get(name) or _descriptions().get(name) or name.replace("_", " ")
    try:
        contribution = float(value)
    except ValueError:
        return text
    direction = "raised" if contribution >= 0 else "lowered"
    return f"{text} — {direction} the risk ({contribution:+.2f})"


def reasons_in_words(codes: Sequence[str] | None) -> str:
    return "; ".join(reason_in_words(c) for c in (codes or []))


def _min_amount_clause(min_amount: Decimal) -> Any:
    """The alert's highest amount is at least ``min_amount`` major units of its currency."""
    return or_(*[and_(alerts.c.currency == cur,
                      alerts.c.amount_minor_max >= int(min_amount * 10**exp))
                 for cur, exp in MINOR_UNITS.items()], false())


@dataclass(frozen=True)
class QueueFilter:
    sources: tuple[str, ...] = ()
    min_score: float = 0.0
    min_amount: Decimal | None = None  # major units, in the alert's currency
    within_hours: float | None = None  # last seen within
    assignee: str | None = None  # None: anyone; "": unassigned
    states: tuple[str, ...] = ACTIVE


def queue(store: CaseStore, f: QueueFilter = QueueFilter(), limit: int = 500,
          now: datetime | None = None) -> pd.DataFrame:
    """The alert queue, highest priority first, one row per alert with its case, ready to
    show (``case_id`` and ``alert_id`` kept for the page)."""
    now = now or datetime.now(UTC)
    query = (select(alerts, cases.c.state, cases.c.assignee, cases.c.opened_at)
             .join(cases, cases.c.case_id == alerts.c.case_id))
    if f.states:
        query = query.where(cases.c.state.in_(f.states))
        if "decided" not in f.states:  # an active case's alerts are open: the index helps
            query = query.where(alerts.c.status == "open")
    if f.sources:
        query = query.where(alerts.c.source.in_(f.sources))
    if f.min_score:
        query = query.where(alerts.c.score_max >= f.min_score)
    if f.min_amount:
        query = query.where(_min_amount_clause(Decimal(f.min_amount)))
    if f.within_hours:
        query = query.where(alerts.c.last_seen >= now - timedelta(hours=f.within_hours))
    if f.assignee == "":
        query = query.where(cases.c.assignee.is_(None))
    elif f.assignee:
        query = query.where(cases.c.assignee == f.assignee)
    query = query.order_by(alerts.c.priority.desc(), alerts.c.last_seen.desc(),
                           alerts.c.alert_id).limit(limit)
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    return pd.DataFrame([{
        "priority": r["priority"], "account": r["entity_id"],
        "source": f"{r['source']} ({r['source_version']})", "score": round(r["score_max"], 3),
        "hits": r["hits"], "highest amount": format_minor(r["amount_minor_max"], r["currency"]),
        "first seen": when(r["first_seen"]), "last seen": when(r["last_seen"]),
        "age": age(r["first_seen"], now), "status": STATES.get(r["state"], r["state"]),
        "assignee": r["assignee"] or "unassigned",
        "main reason": reasons_in_words(json.loads(r["reason_codes"])[:1]),
        "case_id": r["case_id"], "alert_id": r["alert_id"]} for r in rows],
        columns=["priority", "account", "status", "assignee", "score", "hits",
                 "highest amount", "age", "last seen", "main reason", "source", "first seen",
                 "case_id", "alert_id"])


def sources(store: CaseStore) -> list[str]:
    with store.engine.connect() as conn:
        return sorted(conn.execute(select(alerts.c.source).distinct()).scalars())


def evidence_table(evidence: list[dict[str, Any]]) -> pd.DataFrame:
    """The case's alerting transactions, newest first, reasons in words; an AML typology's
    hit also names the pattern it saw (its transactions and counterparties)."""
    return pd.DataFrame([{
        "time": when(e["occurred_at"]), "amount": format_minor(e["amount_minor"], e["currency"]),
        "merchant": e["merchant_id"] or "", "score": f"{e['score']:.3f}",
        "why it alerted": reasons_in_words(e["reason_codes"]),
        "pattern": pattern_in_words(e.get("typology"), e.get("evidence")),
        "transaction": e["transaction_id"]} for e in evidence],
        columns=["time", "amount", "merchant", "score", "why it alerted", "pattern",
                 "transaction"])


def pattern_in_words(typology: str | None, evidence: dict[str, Any] | None) -> str:
    """A typology hit's evidence in a line (empty for the model's hits).

    >>> pattern_in_words("cycle", {"transactions": ["t1", "t2", "t3"],
    ...                            "counterparties": ["a", "b", "c"]})
    'cycle: 3 transactions; with a, b, c'
    """
    if not typology:
        return ""
    evidence = evidence or {}
    parties = list(evidence.get("counterparties") or [])
    more = f" and {len(parties) - 5} more" if len(parties) > 5 else ""
    text = f"{typology.replace('_', ' ')}: {len(evidence.get('transactions') or [])} transactions"
    return text + (f"; with {', '.join(parties[:5])}{more}" if parties else "")


def alerts_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Alerts (of a case or of the account's past), with their outcome."""
    return pd.DataFrame([{
        "source": f"{r['source']} ({r['source_version']})", "priority": r["priority"],
        "score": f"{r['score_max']:.3f}", "hits": r["hits"],
        "highest amount": format_minor(r["amount_minor_max"], r["currency"]),
        "last seen": when(r["last_seen"]), "status": r["status"],
        "decision": DECISION_WORDS.get(r["decision"] or "", r["decision"] or ""),
        "closed": when(r["closed_at"])} for r in rows],
        columns=["decision", "status", "priority", "score", "hits", "highest amount",
                 "last seen", "closed", "source"])


_RECENT_COLUMNS = ("occurred_at", "amount_minor", "currency", "event_type", "channel", "country",
                   "merchant_id", "counterparty_account_id", "account_id", "score", "is_alert",
                   "reason_codes", "ledger_status", "ledger_reason", "transaction_id",
                   "processed_at")


def recent_transactions(con: duckdb.DuckDBPyConnection, account_id: str,
                        limit: int = 50) -> pd.DataFrame:
    """The account's latest transactions in the lake (as payer or counterparty), with any
    label they got, ready to show."""
    # The account's newest rows as payer and as payee (each a top-N its own filter prunes:
    # an OR of the two would read every file), then one row per transaction among them (the
    # first processed copy), then the labels of those few.
    both = [newest_rows(con, side, account_id, _RECENT_COLUMNS, 4 * int(limit))
            for side in SIDES]
    raw = (pd.concat([b for b in both if len(b)] or both[:1], ignore_index=True)
           .sort_values("processed_at", kind="stable").drop_duplicates("transaction_id")
           .sort_values(["occurred_at", "transaction_id"], ascending=[False, True])
           .head(int(limit)))
    ids, params = in_list("id", raw["transaction_id"])
    labels = dict(con.execute(
        f"""SELECT labelled_transaction_id, arg_max(is_fraud, occurred_at) FROM labels
            WHERE labelled_transaction_id IN ({ids}) GROUP BY ALL""",  # noqa: S608
        params).fetchall()) if len(raw) else {}
    raw = raw.assign(is_fraud=[labels.get(i) for i in raw["transaction_id"]])
    return pd.DataFrame([{
        "time": when(r.occurred_at),
        "amount": format_minor(int(r.amount_minor), r.currency),
        "kind": f"{r.event_type} ({r.channel})", "country": r.country,
        "merchant or counterparty": _other_party(r.merchant_id, r.counterparty_account_id)
        if r.account_id == account_id else f"from {r.account_id}",
        "score": round(float(r.score), 3), "alert": "yes" if r.is_alert else "",
        "ledger": r.ledger_status if r.ledger_status == "posted"
        else f"{r.ledger_status}: {r.ledger_reason or ''}",
        "label": "" if pd.isna(r.is_fraud) else ("fraud" if r.is_fraud else "not fraud"),
        "transaction": r.transaction_id} for r in raw.itertuples()],
        columns=["time", "amount", "kind", "country", "merchant or counterparty", "score",
                 "alert", "ledger", "label", "transaction"])


def _other_party(merchant: object, counterparty: object) -> str:
    for who in (merchant, counterparty):
        if isinstance(who, str) and who:
            return who
    return ""


def account_labels(con: duckdb.DuckDBPyConnection, account_id: str) -> pd.DataFrame:
    """Labels the lake holds for the account's transactions (analysts', chargebacks')."""
    return con.execute(
        """SELECT labelled_transaction_id AS transaction, is_fraud, source,
                  occurred_at AS labelled_at
           FROM labels WHERE account_id = $account ORDER BY occurred_at DESC""",
        {"account": account_id}).df()


@dataclass(frozen=True)
class Recorded:
    case: dict[str, Any]
    labels: list[LabelEvent]
    published: list[dict[str, str]]  # each label's answer from the outbox


def decide(store: CaseStore, outbox: Outbox, case_id: str, decision: str, actor: str,
           note: str = "") -> Recorded:
    """Record the decision; its labels go into the outbox as the API's decisions' do (the
    API's relay puts them on the stream). Raises :class:`cases.WorkflowError` when refused."""
    outcome = store.decide(case_id, decision, actor, note)
    published = accept_labels(outbox, outcome.labels)[0] if outcome.labels else []
    return Recorded(outcome.case, outcome.labels, published)


__all__ = ["ACTIVE", "AGES", "DECISION_WORDS", "STATES", "QueueFilter", "Recorded",
           "WorkflowError", "account_labels", "age", "alerts_table", "decide",
           "evidence_table", "feature_descriptions", "queue", "reason_in_words",
           "reasons_in_words", "recent_transactions", "sources", "when"]
