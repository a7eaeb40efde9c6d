"""What decisions say about the alerts: precision per source and version, decisions per day,
time to decision.

A decided alert is *confirmed* when its case was decided ``confirmed_fraud`` or
``report_filed``, *cleared* when ``not_fraud``; precision = confirmed / (confirmed + cleared).
Alerts still open, or closed otherwise, do not count.
"""

from __future__ import annotations

import statistics
from typing import Any

from sqlalchemy import Connection, Integer, func, select

from cases.schema import alerts, cases

CONFIRMED = ("confirmed_fraud", "report_filed")
CLEARED = ("not_fraud",)


def precision_by_source(conn: Connection) -> list[dict[str, Any]]:
    """Per (source, source version): decided alerts, confirmed, cleared, precision."""
    confirmed = func.sum(alerts.c.decision.in_(CONFIRMED).cast(Integer))
    cleared = func.sum(alerts.c.decision.in_(CLEARED).cast(Integer))
    rows = conn.execute(
        select(alerts.c.source, alerts.c.source_version, confirmed, cleared)
        .where(alerts.c.decision.in_(CONFIRMED + CLEARED))
        .group_by(alerts.c.source, alerts.c.source_version)
        .order_by(alerts.c.source, alerts.c.source_version)).all()
    return [{"source": s, "source_version": v, "decided": int(c) + int(x),
             "confirmed": int(c), "cleared": int(x), "precision": int(c) / (int(c) + int(x))}
            for s, v, c, x in rows]


def decisions_per_day(conn: Connection) -> list[dict[str, Any]]:
    """Cases decided per UTC day, by decision."""
    counts: dict[tuple[str, str], int] = {}
    for decided_at, decision in conn.execute(
            select(cases.c.decided_at, cases.c.decision).where(cases.c.decided_at.is_not(None))):
        key = (decided_at.date().isoformat(), decision)
        counts[key] = counts.get(key, 0) + 1
    return [{"day": day, "decision": decision, "cases": n}
            for (day, decision), n in sorted(counts.items())]


def time_to_decision(conn: Connection) -> dict[str, float | int | None]:
    """Hours from a case's opening to its decision: median and 90th percentile."""
    hours = sorted((d - o).total_seconds() / 3600 for o, d in conn.execute(
        select(cases.c.opened_at, cases.c.decided_at).where(cases.c.decided_at.is_not(None))))
    if not hours:
        return {"cases": 0, "median_hours": None, "p90_hours": None}
    p90 = hours[min(len(hours) - 1, int(0.9 * len(hours)))]
    return {"cases": len(hours), "median_hours": statistics.median(hours), "p90_hours": p90}

