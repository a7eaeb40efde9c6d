"""False positives: a ``not_fraud`` decision on a screening alert whitelists its pairs.

A screening hit's evidence (its reason codes, :func:`evidence`) names the list entry and the
*subject* — the customer (``customer:<account>``) for a profile screened at onboarding, the
normalised name (``name:<name>``) for a payment's counterparty. When an analyst decides the
case ``not_fraud``, every (subject, entry) pair of its screening hits is whitelisted: read
back from the workbench's tables (:func:`whitelisted`), so the decision is the whitelist entry
and its audit record at once, and no second store can disagree with it.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, select

from cases.schema import alert_hits, alerts

SOURCES = ("screening:sanctions", "screening:pep")
FALSE_POSITIVE = "not_fraud"


def evidence(subject: str, entry_id: str, listed_name: str, score: float) -> list[str]:
    """The reason codes of a screening hit.

    >>> evidence("customer:acc-1", "syn-s-0001", "Ivan Petroff", 93.3)
    ['entry:syn-s-0001', 'subject:customer:acc-1', 'listed_name:Ivan Petroff', 'match:93.3']
    """
    return [f"entry:{entry_id}", f"subject:{subject}", f"listed_name:{listed_name}",
            f"match:{score:g}"]


def pair(reason_codes: list[str]) -> tuple[str, str] | None:
    """The (subject, entry id) a hit's reason codes name, if they are a screening hit's.

    >>> pair(evidence("name:ivan petrov", "syn-s-0001", "Ivan Petroff", 93.3))
    ('name:ivan petrov', 'syn-s-0001')
    """
    codes = dict(code.split(":", 1) for code in reason_codes if ":" in code)
    if "entry" in codes and "subject" in codes:
        return codes["subject"], codes["entry"]
    return None


def whitelisted(conn: Connection) -> set[tuple[str, str]]:
    """Every (subject, entry id) pair an analyst decided was a false positive."""
    rows = conn.execute(
        select(alert_hits.c.reason_codes)
        .join(alerts, alerts.c.alert_id == alert_hits.c.alert_id)
        .where(alerts.c.source.in_(SOURCES), alerts.c.decision == FALSE_POSITIVE)).scalars()
    pairs = (pair(json.loads(codes)) for codes in rows)
    return {p for p in pairs if p is not None}
