"""Before a worker consumes, its feature state catches up with the lake.

The worker stores a batch's feature state right after the batch's effects (ledger, lake,
alerts), with a *watermark*: the latest ``processed_at`` its lake rows carry. A crash between
the lake write and the state commit leaves lake rows the state has not applied; a redelivery
would apply them, but after a broker loss (the embedded broker is memory-only) there may be
none. So a starting worker replays, through the very stage functions the stream runs
(:func:`streams.stages.featurize` → :func:`features.online.run_stage`), the lake rows processed
after the watermark minus :data:`MARGIN_SECONDS` (another worker may have moved it meanwhile),
in the order the stream applied them; a transaction the state already applied is skipped by
its applied mark. With no watermark (a first start, or a state database that was lost) it
replays the whole lake: the state is rebuilt.

Labels that reached the worker straight from Kafka are not in the lake and are not replayed.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from core.contract import EventType, TransactionEvent
from core.geo import is_known_country
from core.lake import connect
from core.lake_schema import TRANSACTION_COLUMNS
from core.settings import Settings
from streams.materialise import apply_batch
from streams.pipeline import RawRecord
from streams.stages import Parsed
from streams.state import StateStore, read_meta

log = logging.getLogger(__name__)

#: How far before the watermark the replay starts: a batch's state commit follows its lake
#: write within milliseconds, so this covers another worker's batches committed meanwhile.
MARGIN_SECONDS = 30.0
WATERMARK = "watermark"
_REPLAY_BATCH = 5000


def watermark_of(rows: list[dict]) -> str | None:  # type: ignore[type-arg]
    """The watermark for a batch's lake rows (epoch seconds of the latest ``processed_at``)."""
    times = [r["processed_at"].timestamp() for r in rows]
    return repr(max(times)) if times else None


def catch_up(settings: Settings, store: StateStore) -> int:
    """Apply to ``store`` the lake rows it may lack; return how many were replayed."""
    if not (settings.lake_dir / "transactions").exists():
        return 0
    mark = read_meta(store.engine, WATERMARK)
    since = float(mark) - MARGIN_SECONDS if mark is not None else None
    started = time.perf_counter()
    columns = [c.name for c in TRANSACTION_COLUMNS if c.name in _EVENT_FIELDS]
    where = "" if since is None else "WHERE epoch(processed_at) > ?"
    rows = connect(settings.lake_dir).sql(
        f"SELECT {', '.join(columns)}, epoch(processed_at) FROM transactions {where} "  # noqa: S608
        "ORDER BY processed_at, source_partition, source_offset, occurred_at, transaction_id",
        params=[since] if since is not None else None).fetchall()
    replayed, unknown_countries = 0, 0
    for start in range(0, len(rows), _REPLAY_BATCH):
        chunk = rows[start:start + _REPLAY_BATCH]
        by_time: dict[float, Parsed] = {}
        for row in chunk:  # each group as one stream batch: same processing time
            fields = dict(zip(columns, row[:-1], strict=True))
            # Rows the stream validated once: built, not validated again (the lake keeps
            # only the fields the features read).
            fields["event_type"] = EventType(fields["event_type"])
            if not is_known_country(fields.get("country")):
                # Accepted before the contract refused countries without a zone (computed in
                # UTC then): no zone to replay it with today, so it is left out, counted.
                unknown_countries += 1
                continue
            ev = TransactionEvent.model_construct(**fields)
            by_time.setdefault(float(row[-1]), Parsed()).items.append((RawRecord(b""), ev))
        replayed += apply_batch(store, [(group, t) for t, group in by_time.items()],
                                {WATERMARK: repr(float(chunk[-1][-1]))})
    if unknown_countries:
        log.warning("%d lake rows carry a country the contract no longer accepts (no time "
                    "zone): left out of the replay, their accounts' states lack them",
                    unknown_countries)
    if replayed:
        log.warning("feature state caught up with the lake: %d transactions replayed (of %d "
                    "lake rows after %s) in %.1f s", replayed, len(rows),
                    "the beginning" if since is None else datetime.fromtimestamp(since, UTC),
                    time.perf_counter() - started)
    return replayed


_EVENT_FIELDS = frozenset(TransactionEvent.model_fields)
