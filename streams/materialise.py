"""Feature state for a past the stream never consumed (Feast's ``materialize``).

A fresh stack's feature state is empty: every account and merchant looks brand new, while the
history a model learned from gave them weeks. :func:`materialise` applies such a past — in
the demo, the simulated world's recent history (``flowlet.warmstart``) — to the worker's
state store before a worker consumes, through the very stage functions the stream runs
(:func:`streams.stages.featurize`, as :mod:`streams.recovery` replays the lake), in bulk
batches. Nothing else sees that past: no ledger postings, lake rows or alerts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from core.contract import TransactionEvent
from streams.pipeline import RawRecord
from streams.stages import Parsed, featurize, state_keys
from streams.state import StateStore

log = logging.getLogger(__name__)

#: Transactions per database transaction: large, since nothing else runs yet (each commit
#: rewrites every state its batch touched; a busy merchant sits in every batch).
_BATCH = 200_000


def materialise(store: StateStore, events: Iterable[TransactionEvent], processed_at: float,
                meta: dict[str, str] | None = None) -> int:
    """Apply ``events`` (in arrival order) to ``store`` as processed at ``processed_at``
    (epoch seconds; redelivery marks expire an hour of processing time later); commit
    ``meta`` with the last batch. Returns how many transactions were applied (one the state
    already marks applied is skipped, as in the stream)."""
    started = time.perf_counter()
    applied, chunk = 0, []
    for ev in events:
        chunk.append((RawRecord(b""), ev))
        if len(chunk) == _BATCH:
            applied += apply_batch(store, [(Parsed(items=chunk), processed_at)])
            chunk = []
    applied += apply_batch(store, [(Parsed(items=chunk), processed_at)], meta)
    log.info("materialised %d transactions into the feature state in %.1f s", applied,
             time.perf_counter() - started)
    return applied


def apply_batch(store: StateStore, groups: list[tuple[Parsed, float]],
                meta: dict[str, str] | None = None) -> int:
    """One state transaction over ``groups`` (each parsed group with its processing time, in
    order) through the stream's stage functions, committed with ``meta``; returns how many
    transactions were applied. Shared by materialising a past and replaying the lake
    (:mod:`streams.recovery`)."""
    items = [item for parsed, _ in groups for item in parsed.items]
    if not items and not meta:
        return 0
    store.begin(state_keys(items))
    try:
        applied = sum(len(featurize(parsed, store.lookup, processed_at).batch.events)
                      for parsed, processed_at in groups)
    except BaseException:
        store.rollback()
        raise
    store.commit(meta)
    return applied
