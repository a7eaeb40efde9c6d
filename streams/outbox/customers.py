"""Customer profile events into the outbox, and whether the worker has stored them.

The outbox holds a profile under ``customer:<event_id>``, so transaction and profile ids never
collide; the relay asks :func:`processed_customers` which of its in-flight ids are done.

>>> from datetime import UTC, datetime
>>> from core.contract import CustomerEvent
>>> ev = CustomerEvent(event_id="kyc-1", account_id="acc-1", version=1,
...     occurred_at=datetime(2026, 12, 1, tzinfo=UTC), customer_type="individual",
...     name="Ana Lima", country="PT", onboarded_on="2026-12-01")
>>> box = Outbox("sqlite://")
>>> results, stored = accept_customers(box, [ev, ev])
>>> [r["status"] for r in results], stored
(['accepted', 'duplicate'], {'customer:kyc-1'})
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError

from core.contract import CustomerEvent
from customers.schema import customer_events
from streams.outbox.store import Outbox

#: The outbox id of a profile event: its ``event_id`` after this prefix.
OUTBOX_PREFIX = "customer:"


def accept_customers(outbox: Outbox, events: Sequence[CustomerEvent]
                     ) -> tuple[list[dict[str, str]], set[str]]:
    """Store the events in the outbox in one transaction; each one's answer, and the outbox
    ids newly stored."""
    wire = [ev.model_dump_json(exclude_none=True).encode() for ev in events]
    hashes = [hashlib.sha256(raw).hexdigest() for raw in wire]
    first: dict[str, int] = {}
    for i, ev in enumerate(events):
        first.setdefault(ev.event_id, i)
    stored, previous = outbox.accept([(OUTBOX_PREFIX + eid, events[i].account_id, wire[i],
                                       hashes[i]) for eid, i in first.items()])
    results = []
    for i, ev in enumerate(events):
        key = OUTBOX_PREFIX + ev.event_id
        known = previous[key][0] if key in previous else hashes[first[ev.event_id]]
        status = ("conflict" if hashes[i] != known else
                  "accepted" if key in stored and first[ev.event_id] == i else "duplicate")
        results.append({"event_id": ev.event_id, "status": status})
    return results, stored


def processed_customers(engine: Engine, outbox_ids: Iterable[str]) -> set[str]:
    """The outbox ids of profile events the worker has stored (for the relay)."""
    ids = {i[len(OUTBOX_PREFIX):]: i for i in outbox_ids if i.startswith(OUTBOX_PREFIX)}
    if not ids:
        return set()
    keys = list(ids)
    try:
        with engine.connect() as conn:
            return {ids[e] for start in range(0, len(keys), 500) for e in conn.execute(
                select(customer_events.c.event_id)
                .where(customer_events.c.event_id.in_(keys[start:start + 500]))).scalars()}
    except DBAPIError:  # no customers' tables yet (the worker creates them)
        return set()
