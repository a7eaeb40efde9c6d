"""Compaction of the lake: a day's per-batch files merged into few large ones, aggregates too.

The sink writes one small file per micro-batch and day (:mod:`streams.sink`); compaction turns
them into ``part-compacted-<id>.parquet`` files, in ``transactions/`` and in ``aggregates/``,
without a reader ever counting a row twice or missing one:

1. **Which copy counts.** For each batch file the claims in ``lake_index`` decide: rows whose
   claim names this batch are *owned* and move; a file whose rows another batch claimed is an
   *orphan* (a crash between the sink's rename and its commit, then a redelivery) and is dropped;
   a file with any row not claimed yet is left alone (its batch may be committing right now, or
   awaiting redelivery) and looked at again next round.
2. **Aggregates first, then rows.** The day's new aggregates (of owned rows the aggregates folder
   has not superseded yet) are merged into a compacted aggregates file, then the rows into a
   compacted transactions file. A crash between the two leaves the aggregates compacted and the
   rows not; the next round compacts the rows and, their batches being superseded in
   ``aggregates/`` already, does not count them again.
3. **Atomic swap.** Each compacted file is written under a hidden temporary name, synced and
   renamed; its Parquet metadata names the files it supersedes (:data:`core.lake.SUPERSEDES_KEY`),
   so the rename is the instant readers switch from the inputs to it (:func:`core.lake.live_files`).
   The inputs are deleted ``grace_seconds`` later, so a reader that listed the folder before the
   rename can still read them. A compacted file that is merged again passes on the names it
   superseded that still exist, so deleting files in any order never revives one.
4. **One compactor at a time**: an exclusive ``flock`` on ``<lake>/.compactor.lock``; a second
   compactor (thread or process on this machine) returns at once with ``skipped``. The sink
   needs no lock: it only adds files, and step 1 never touches a file being committed.
5. **Roll-up.** The compacted aggregates of days older than ``keep_days`` (default 2: today and
   yesterday stay per day) are merged into their month's ``aggregates/dt=rollup-YYYY-MM/``,
   superseding the days' files by relative name, so an account or merchant is one group per
   month, not one per day. By month, so that a round rewrites at most one month's groups:
   merging a day into a roll-up of the whole history grew with the lake's age (5.5 s a day
   with 7 days rolled up, 16.8 s with 28, at 10 M rows and load ~5, most of it the ``edges``
   cube); by month it is 2–6 s (``python -m flowlet.bench.rollup``).
6. **The record of what is counted** is "this batch's aggregates file is superseded". So a
   batch's aggregates file is not deleted while its rows file is live (between the two steps
   of 2), and a merge passes on every superseded name whose file still exists.

File sizes: a day's compacted files below ``target_rows`` are *open*; when a round would leave
``merge_factor`` of them, they are merged into one (so a row is rewritten about
log(target/batch) / log(merge_factor) times, not once per round).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Engine, select

from core.db import create_tables, make_engine
from core.lake import (
    AGGREGATES,
    COMPACTED_PREFIX,
    SUPERSEDES_KEY,
    TRANSACTIONS,
    is_compacted,
    is_rollup_folder,
    live_files_in,
    part_files,
    rollup_folder,
    superseded_paths,
    supersedes,
)
from core.lake_aggregates import aggregate, aggregate_schema, merge, merge_files
from core.settings import Settings
from streams.sink import lake_index

log = logging.getLogger(__name__)

#: A sink batch's file: ``part-<uuid hex>.parquet`` (the hex is the batch id in lake_index).
BATCH_FILE = re.compile(r"^part-([0-9a-f]{32})\.parquet$")
LOCK_FILE = ".compactor.lock"
_CLAIM_LOOKUP_CHUNK = 500
#: Compacted transaction files are clustered by account: rows sorted by :data:`ROW_ORDER` in
#: row groups of this many rows, so Parquet min/max statistics let a reader of one account
#: (the case page) read only the row groups whose account range holds it — one or two per day
#: file — instead of the account column of every file.
_ROW_GROUP_ROWS = 32 * 1024
ROW_ORDER = (("account_id", "ascending"), ("occurred_at", "ascending"))
#: A transfer's payee is not in the sort order: a bloom filter per row group on it lets a reader
#: of the account's incoming transfers skip the row groups that cannot hold them. One on the
#: account too: a quiet account falls inside the account range of a row group in every day
#: file, and the filter skips those it has no row in.
_BLOOM_COLUMNS = ("counterparty_account_id", "account_id")
_BLOOM_FPP = 0.01
#: Aggregate files are sorted by cube, then account: small row groups let a query of one cube
#: skip the others, and one of an account's groups (the case page's network) the other accounts'.
_AGGREGATE_ROW_GROUP_ROWS = 8 * 1024
_AGGREGATE_BLOOM_COLUMNS = ("counterparty_account_id", "account_id")


@dataclass
class CompactionStats:
    days: int = 0            # day folders that got a compacted file
    batches: int = 0         # sink batch files whose rows moved into a compacted file
    orphans: int = 0         # unclaimed copies dropped (another batch claimed their rows)
    waiting: int = 0         # batch files left for later: a row not claimed (yet)
    merged: int = 0          # open compacted files merged into a larger one
    rows_written: int = 0
    files_written: int = 0
    files_deleted: int = 0
    seconds: float = 0.0
    skipped: bool = False    # another compactor held the lock

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def _exclusive(lake_dir: Path) -> Iterator[bool]:
    lake_dir.mkdir(parents=True, exist_ok=True)
    with open(lake_dir / LOCK_FILE, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_durably(table: pa.Table, final: Path, superseded: Sequence[str]) -> None:
    """Write, sync, rename, sync the folder: the inputs are deleted on the strength of it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp"
    metadata = {**(table.schema.metadata or {}), SUPERSEDES_KEY: json.dumps(sorted(superseded))}
    options: dict[str, Any] = {"row_group_size": _AGGREGATE_ROW_GROUP_ROWS,
                               "bloom_filter_options": {
                                   c: {"ndv": _AGGREGATE_ROW_GROUP_ROWS, "fpp": _BLOOM_FPP}
                                   for c in _AGGREGATE_BLOOM_COLUMNS}}
    if final.parent.parent.name != AGGREGATES:
        options = {"row_group_size": _ROW_GROUP_ROWS,
                   "sorting_columns": pq.SortingColumn.from_ordering(table.schema, ROW_ORDER),
                   "bloom_filter_options": {
                       c: {"ndv": _ROW_GROUP_ROWS, "fpp": _BLOOM_FPP}
                       for c in _BLOOM_COLUMNS if c in table.schema.names}}
    pq.write_table(table.replace_schema_metadata(metadata), tmp, compression="zstd", **options)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    folder = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def in_row_order(table: pa.Table) -> pa.Table:
    """Lake rows as a compacted file holds them: by account, then event time."""
    return table.sort_by(list(ROW_ORDER))


def _compacted_name() -> str:
    return f"{COMPACTED_PREFIX}{uuid.uuid4().hex}.parquet"


def _inherited(merged: Sequence[Path], folder: Path) -> set[str]:
    """The merged files and what they superseded that still exists, relative to ``folder``:
    the new file names those too, so deleting the merged ones never revives any."""
    names: set[str] = set()
    for f in merged:
        names.add(os.path.relpath(f, folder))
        for name in supersedes(f):
            path = os.path.normpath(f.parent / name)
            if os.path.exists(path):
                names.add(os.path.relpath(path, folder))
    return names


class LakeCompactor:
    """Compacts ``<lake_dir>/transactions`` and ``<lake_dir>/aggregates`` day by day."""

    def __init__(self, lake_dir: Path, engine: Engine, *, target_rows: int = 1_000_000,
                 merge_factor: int = 4, grace_seconds: float = 300.0,
                 keep_days: int = 2) -> None:
        self.lake_dir = Path(lake_dir)
        self.keep_days = keep_days
        self.engine = engine
        self.target_rows = target_rows
        self.merge_factor = max(2, merge_factor)
        self.grace_seconds = grace_seconds
        create_tables(lake_index.metadata, engine)

    def compact(self) -> CompactionStats:
        """One round over every day; safe beside the sink and beside other compactors."""
        started = time.perf_counter()
        with _exclusive(self.lake_dir) as held:
            if not held:
                return CompactionStats(skipped=True)
            stats = CompactionStats()
            days = sorted({p.name for table in (TRANSACTIONS, AGGREGATES)
                           for p in (self.lake_dir / table).glob("dt=*")
                           if p.is_dir() and not is_rollup_folder(p.name)})
            # Which aggregate files are superseded, by any folder's compacted file (a roll-up
            # supersedes other folders' files); each day adds files only to its own folder.
            agg_superseded, _ = superseded_paths(part_files(self.lake_dir / AGGREGATES))
            for day in days:
                self._compact_day(day, agg_superseded, stats)
            self._roll_up(stats)
            stats.files_deleted = self._delete_superseded()
        stats.seconds = time.perf_counter() - started
        if stats.files_written or stats.files_deleted:
            log.info("lake compaction: %s", stats.as_dict())
        return stats

    # -- one day ---------------------------------------------------------------------------

    def _compact_day(self, day: str, agg_superseded: set[Path], stats: CompactionStats) -> None:
        tx_dir = self.lake_dir / TRANSACTIONS / day
        agg_dir = self.lake_dir / AGGREGATES / day
        tx_files = sorted(tx_dir.glob("part-*.parquet"))
        tx_live = live_files_in(tx_files)
        owned, orphans, waiting = self._sort_batches(
            [f for f in tx_live if BATCH_FILE.match(f.name)])
        stats.waiting += waiting
        consumed = [*owned, *orphans]

        agg_live = [f for f in sorted(agg_dir.glob("part-*.parquet")) if f not in agg_superseded]
        # A batch whose aggregates file is superseded is counted already (a crash came between
        # the two steps below); its file is kept while its rows are live (_delete_superseded).
        uncounted = [t for name, t in owned.items() if agg_dir / name not in agg_superseded]
        new_aggregates = aggregate(pa.concat_tables(uncounted, promote_options="permissive")) \
            if uncounted else aggregate_schema().empty_table()
        agg_live_names = {f.name for f in agg_live}
        wrote = self._write(agg_dir, agg_live, [new_aggregates],
                            [n for n in consumed if n in agg_live_names],
                            combine=merge, stats=stats)

        rows = list(owned.values())
        wrote |= self._write(tx_dir, tx_live, rows, consumed, stats=stats,
                             combine=lambda tables: in_row_order(pa.concat_tables(
                                 tables, promote_options="permissive")))
        if wrote:
            stats.days += 1
            stats.batches += len(owned)
            stats.orphans += len(orphans)

    def _write(self, folder: Path, live: list[Path], new: list[pa.Table], consumed: list[str],
               *, combine: Any, stats: CompactionStats) -> bool:
        """A compacted file in ``folder`` holding ``new`` (plus the open compacted files when
        there are enough of them) and superseding ``consumed``; whether one was written."""
        open_files = [f for f in live if is_compacted(f)
                      and pq.read_metadata(f).num_rows < self.target_rows]
        merging = open_files if len(open_files) + 1 >= self.merge_factor else []
        has_new = any(t.num_rows for t in new)
        if not consumed and not has_new and len(merging) < 2:
            return False
        tables = [t for t in new if t.num_rows] + [pq.read_table(f) for f in merging]
        superseded = set(consumed) | _inherited(merging, folder)
        if tables:
            table = combine(tables).replace_schema_metadata(None)
        else:
            table = (aggregate_schema() if folder.parent.name == AGGREGATES
                     else pq.read_schema(folder / consumed[0])).empty_table()
        _write_durably(table, folder / _compacted_name(), sorted(superseded))
        stats.rows_written += table.num_rows
        stats.files_written += 1
        stats.merged += len(merging)
        return True

    def _sort_batches(self, batch_files: list[Path],
                      ) -> tuple[dict[str, pa.Table], list[str], int]:
        """Owned rows by file name, orphan file names, and how many files wait."""
        tables = {f.name: pq.read_table(f) for f in batch_files}
        owners = self._owners([i for t in tables.values()
                               for i in t.column("transaction_id").to_pylist()])
        owned: dict[str, pa.Table] = {}
        orphans: list[str] = []
        waiting = 0
        for name, table in tables.items():
            match = BATCH_FILE.match(name)
            assert match is not None
            claims = [owners.get(i) for i in table.column("transaction_id").to_pylist()]
            if None in claims:
                waiting += 1
                continue
            mine = pa.array([c == match.group(1) for c in claims])
            if pc.all(mine).as_py():
                owned[name] = table
            elif not pc.any(mine).as_py():
                orphans.append(name)
            else:  # not written by this sink (it claims a batch's rows together); keep its own
                owned[name] = table.filter(mine)
        return owned, orphans, waiting

    def _owners(self, ids: list[str]) -> dict[str, str]:
        """transaction_id → the batch whose claim committed, for the ids claimed."""
        owners: dict[str, str] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), _CLAIM_LOOKUP_CHUNK):
                chunk = ids[start:start + _CLAIM_LOOKUP_CHUNK]
                owners.update(conn.execute(
                    select(lake_index.c.transaction_id, lake_index.c.file)
                    .where(lake_index.c.transaction_id.in_(chunk))).all())
        return owners

    # -- roll-up -----------------------------------------------------------------------------

    def _roll_up(self, stats: CompactionStats) -> None:
        """Merge the compacted aggregates of days older than ``keep_days`` into their month's
        roll-up file: per-account and per-merchant groups then count once a month, not once
        a day, and a round rewrites only the months it adds days to."""
        root = self.lake_dir / AGGREGATES
        cutoff = f"dt={(datetime.now(UTC).date() - timedelta(days=self.keep_days)).isoformat()}"
        live = live_files_in(part_files(root))
        months: dict[str, list[Path]] = {}
        for f in live:
            if is_compacted(f) and not is_rollup_folder(f.parent.name) and f.parent.name < cutoff:
                months.setdefault(f.parent.name[len("dt="):len("dt=YYYY-MM")], []).append(f)
        for month, days in sorted(months.items()):
            folder = root / rollup_folder(month)
            merged = days + [f for f in live if f.parent == folder]
            table = merge_files(merged)
            _write_durably(table, folder / _compacted_name(), sorted(_inherited(merged, folder)))
            stats.rows_written += table.num_rows
            stats.files_written += 1
            stats.merged += len(merged)

    # -- deletion ----------------------------------------------------------------------------

    def _delete_superseded(self) -> int:
        """Delete the files compacted files superseded at least ``grace_seconds`` ago; but a
        batch's aggregates file stays while the batch's rows file is live, as the record that
        its rows are counted."""
        deadline = time.time() - self.grace_seconds
        tx_live = set(live_files_in(part_files(self.lake_dir / TRANSACTIONS)))
        deleted = 0
        for table in (TRANSACTIONS, AGGREGATES):
            for compacted in part_files(self.lake_dir / table):
                if not is_compacted(compacted):
                    continue
                try:
                    if compacted.stat().st_mtime > deadline:
                        continue
                    names = supersedes(compacted)
                except FileNotFoundError:  # deleted above, superseded by a newer one
                    continue
                for name in names:
                    path = Path(os.path.normpath(compacted.parent / name))
                    if table == AGGREGATES and (self.lake_dir / TRANSACTIONS / path.parent.name
                                                / path.name) in tx_live:
                        continue
                    try:
                        path.unlink()
                        deleted += 1
                    except FileNotFoundError:
                        pass
        return deleted


def compact(lake_dir: Path, engine: Engine, **options: Any) -> CompactionStats:
    """One compaction round over the lake at ``lake_dir`` (claims read through ``engine``)."""
    return LakeCompactor(lake_dir, engine, **options).compact()


def compact_once(settings: Settings, **options: Any) -> CompactionStats:
    """One compaction round for the worker's lake; safe to run beside the sink and beside
    another compactor (it then returns ``skipped``). Blocking: run it off the event loop."""
    engine = make_engine(settings.database_url, settings.ledger_sqlite_synchronous)
    try:
        return compact(settings.lake_dir, engine, **options)
    finally:
        engine.dispose()


def write_compacted_rows(lake_dir: Path, rows: pa.Table) -> int:
    """Bulk-load lake rows as compacted files (rows and aggregates), bypassing the claims: for
    benchmarks and imports of rows known to be new. Returns the files written."""
    written = 0
    days = pc.strftime(rows.column("occurred_at"), format="%Y-%m-%d", locale="C")
    for day in pc.unique(days).to_pylist():
        part = in_row_order(rows.filter(pc.equal(days, day)))
        # Aggregates first, as compaction does.
        _write_durably(aggregate(part), Path(lake_dir) / AGGREGATES / f"dt={day}"
                       / _compacted_name(), [])
        _write_durably(part, Path(lake_dir) / TRANSACTIONS / f"dt={day}" / _compacted_name(), [])
        written += 2
    return written


