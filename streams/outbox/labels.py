"""Labels into the outbox: what the API's ``publish_labels`` and the dashboard's decision form
both do, so a decision's labels reach the stream by the same road whoever records it.

The relay of the API process publishes whatever the outbox holds (woken at once in that
process, within ``outbox_reconcile_seconds`` for rows another process stored).

>>> from datetime import UTC, datetime
>>> from core.contract import LabelEvent
>>> t = datetime(2026, 12, 1, 9, tzinfo=UTC)
>>> label = LabelEvent(label_id="lbl-1", labelled_transaction_id="tx-1", account_id="acc-1",
...                    transaction_occurred_at=t, occurred_at=t, is_fraud=True)
>>> box = Outbox("sqlite://")
>>> results, stored = accept_labels(box, [label, label])
>>> [r["status"] for r in results], stored
(['accepted', 'duplicate'], {'lbl-1'})
>>> accept_labels(box, [label])[0]
[{'label_id': 'lbl-1', 'status': 'duplicate'}]
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from core.contract import LabelEvent
from streams.outbox.store import Outbox


def accept_labels(outbox: Outbox, labels: Sequence[LabelEvent]
                  ) -> tuple[list[dict[str, str]], set[str]]:
    """Store the labels (keyed by ``account_id``) in one transaction; returns each label's
    answer (``accepted``, ``duplicate`` or ``conflict``) and the ids newly stored."""
    wire = [lb.model_dump_json(exclude_none=True).encode() for lb in labels]
    hashes = [hashlib.sha256(raw).hexdigest() for raw in wire]
    first: dict[str, int] = {}
    for i, lb in enumerate(labels):
        first.setdefault(lb.label_id, i)
    stored, previous = outbox.accept([
        (lid, labels[i].account_id, wire[i], hashes[i]) for lid, i in first.items()])
    results = []
    for i, lb in enumerate(labels):
        known = previous[lb.label_id][0] if lb.label_id in previous else \
            hashes[first[lb.label_id]]
        status = ("conflict" if hashes[i] != known else
                  "accepted" if lb.label_id in stored and first[lb.label_id] == i
                  else "duplicate")
        results.append({"label_id": lb.label_id, "status": status})
    return results, stored
