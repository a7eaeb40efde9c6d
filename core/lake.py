"""Reading the analytics lake with DuckDB: the views every reader (dashboards, notebooks) uses.

The sink and the compactor are the only writers; readers open in-memory DuckDB connections over
the Parquet files, so they never block the pipeline.

Files. A lake table is ``<lake>/<table>/dt=YYYY-MM-DD/part-*.parquet``: the sink writes one
``part-<batch id>.parquet`` per micro-batch and day, the compactor merges them into
``part-compacted-<id>.parquet``, whose Parquet metadata (:data:`SUPERSEDES_KEY`) names the
files it replaces (relative to its folder: aggregates of past days are rolled up by month into
``aggregates/dt=rollup-YYYY-MM/``, superseding the days' files). A reader reads the *live* files
(:func:`live_files`):
every part file no compacted file supersedes. A compacted file appears by an atomic rename, so
from that instant readers skip its inputs even though the compactor deletes them only later
(after a grace period, so a reader that listed the folder just before still finds them).

Views of :func:`connect`:

- ``transactions``: one row per ``transaction_id`` (a crash between a sink's file rename and its
  claim's commit can leave a second copy until compaction drops it). Columns are the lake
  schema's (:mod:`core.lake_schema`): a column a file lacks reads as NULL, and an empty lake has
  the declared columns, so queries need no special case.
- ``lake_rows``: the same rows *without* that deduplication, plus the partition column ``dt``
  (DATE, UTC day of ``occurred_at``), for queries that filter first — a filter on ``dt`` skips
  whole files — and deduplicate the few rows left (deduplicating 10 million rows takes seconds).
- ``aggregates``: the cubes of :mod:`core.lake_aggregates`, added up over live files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from core.lake_aggregates import AGGREGATE_COLUMNS
from core.lake_schema import LABEL_COLUMNS, LakeColumn, transaction_columns

TRANSACTIONS = "transactions"
AGGREGATES = "aggregates"
LABELS = "labels"
#: The aggregates folders past days are rolled up into: ``dt=rollup-YYYY-MM`` per month (not
#: dates: ``dt`` of aggregates is never read as a column). Lakes rolled up before the roll-up
#: went monthly also hold one ``dt=rollup`` folder, still live, never merged again.
ROLLUP_PREFIX = "dt=rollup"


def rollup_folder(month: str) -> str:
    """The roll-up folder of a month ``YYYY-MM``."""
    return f"{ROLLUP_PREFIX}-{month}"


def is_rollup_folder(name: str) -> bool:
    return name.startswith(ROLLUP_PREFIX)
COMPACTED_PREFIX = "part-compacted-"
#: Parquet key-value metadata of a compacted file: JSON list of the file names it replaces.
SUPERSEDES_KEY = b"flowlet.supersedes"


@lru_cache(maxsize=16384)
def _footer(path: str, _mtime_ns: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    schema = pq.read_schema(path)
    superseded = json.loads((schema.metadata or {}).get(SUPERSEDES_KEY, b"[]"))
    return tuple(schema.names), tuple(superseded)


def _footer_of(path: Path | str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Column names and superseded names of a file, read once per file version (lake files
    are written once and never change, so a reader process reads each footer once)."""
    return _footer(str(path), os.stat(path).st_mtime_ns)


def supersedes(path: Path) -> tuple[str, ...]:
    """The names (same folder) a compacted file replaces."""
    return _footer_of(path)[1]


def is_compacted(path: Path) -> bool:
    return path.name.startswith(COMPACTED_PREFIX)


def part_files(folder: Path) -> list[Path]:
    """Every part file of a table (live or superseded), by path."""
    return sorted(folder.glob("dt=*/part-*.parquet"))


def superseded_paths(files: Iterable[Path]) -> tuple[set[Path], set[Path]]:
    """The paths the compacted files among ``files`` supersede (names resolve against each
    file's folder, so a roll-up can name another folder's files), and compacted files that
    vanished since the listing."""
    superseded: set[Path] = set()
    gone: set[Path] = set()
    for f in files:
        if is_compacted(f):
            try:
                superseded.update(Path(os.path.normpath(f.parent / name))
                                  for name in supersedes(f))
            except FileNotFoundError:
                # Deleted since the listing: only superseded compacted files are deleted, and
                # whatever replaced it names its inputs too.
                gone.add(f)
    return superseded, gone


def live_files_in(files: Iterable[Path]) -> list[Path]:
    """The files of ``files`` a reader reads: those no present compacted file supersedes."""
    files = list(files)
    superseded, gone = superseded_paths(files)
    return [f for f in files if f not in superseded and f not in gone]


def live_files(lake_dir: Path, table: str = TRANSACTIONS) -> list[Path]:
    return live_files_in(part_files(Path(lake_dir) / table))


def lake_files(lake_dir: Path, table: str = TRANSACTIONS) -> list[str]:
    """The live files of a lake table, as strings (what DuckDB's ``read_parquet`` takes)."""
    return [str(p) for p in live_files(lake_dir, table)]


def _empty_select(columns: Iterable[LakeColumn], *extra: str) -> str:
    return "SELECT " + ", ".join([f"NULL::{c.duckdb_type} AS {c.name}" for c in columns]
                                 + list(extra)) + " WHERE false"


def _source(files: list[str], *, union_by_name: bool, hive: bool = True) -> str:
    file_list = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    return (f"read_parquet([{file_list}], hive_partitioning = {str(hive).lower()}, "
            f"union_by_name = {str(union_by_name).lower()})")


def _day_of(file: str) -> str:
    """The ``dt=`` folder of a part file (a stable sort keeps a day's files in name order)."""
    return Path(file).parent.name


def connect(lake_dir: Path, feature_names: Iterable[str] = (), *,
            database: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB with views ``transactions`` (deduplicated), ``lake_rows`` and
    ``aggregates`` over the lake's live files.

    The transaction views have every declared column (and the ``f_<name>`` column of each of
    ``feature_names``), NULL where the files lack it, plus whatever else the files hold.

    ``database``: a new connection (cursor) to that database, its views temporary (this
    connection's own), instead of a new database: connections of one database share its cache
    of Parquet footers, so a reader that opens one per page view parses each file's footer
    once, not once per view (``dashboards.queries.open_lake``).
    """
    con = database.cursor() if database is not None else duckdb.connect(":memory:")
    # Lake files never change once renamed into place: each footer is parsed once, not once
    # per query (a case page asks ~6 questions of ~60 files).
    con.execute("SET parquet_metadata_cache = true")
    view = "TEMP VIEW" if database is not None else "VIEW"
    declared = transaction_columns(feature_names)
    # Newest day first: a top-N by event time (an account's latest rows) fills from the newest
    # file, and its dynamic filter on occurred_at then skips older days' row groups.
    files = sorted(lake_files(lake_dir), key=_day_of, reverse=True)
    if not files:
        columns = ", ".join(c.name for c in declared)
        con.execute(f"CREATE {view} lake_rows AS {_empty_select(declared, 'NULL::DATE AS dt')}")
        con.execute(f"CREATE {view} transactions AS SELECT {columns} FROM lake_rows")
    else:
        schemas = {_footer_of(f)[0] for f in files}
        present = {name for names in schemas for name in names}
        # Files written before a column was declared: it reads as NULL. Reading by name costs
        # every footer at each query's bind, so only when the files differ.
        source = _source(files, union_by_name=len(schemas) > 1)
        missing = "".join(f", NULL::{c.duckdb_type} AS {c.name}" for c in declared
                          if c.name not in present)
        con.execute(f"CREATE {view} lake_rows AS SELECT *{missing} FROM {source}")
        con.execute(f"""CREATE {view} transactions AS SELECT * EXCLUDE (dt) FROM lake_rows
            QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY processed_at) = 1""")
    label_files = lake_files(lake_dir, LABELS)
    con.execute(f"CREATE {view} labels AS " + (
        f"SELECT * EXCLUDE (dt) FROM {_source(label_files, union_by_name=False)}"
        if label_files else _empty_select(LABEL_COLUMNS)))
    aggregate_files = lake_files(lake_dir, AGGREGATES)
    if aggregate_files:
        # Files from before a dimension was added lack its column: NULL there.
        schemas = {_footer_of(f)[0] for f in aggregate_files}
        present = {name for names in schemas for name in names}
        names = ", ".join(c.name if c.name in present else f"NULL::{c.duckdb_type} AS {c.name}"
                          for c in AGGREGATE_COLUMNS)
        source = _source(aggregate_files, union_by_name=len(schemas) > 1, hive=False)
        con.execute(f"CREATE {view} aggregates AS SELECT {names} FROM {source}")
    else:
        con.execute(f"CREATE {view} aggregates AS {_empty_select(AGGREGATE_COLUMNS)}")
    return con
