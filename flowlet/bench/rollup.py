"""The daily roll-up round of the lake's aggregates, timed at several lake ages.

``python -m flowlet.bench.rollup LAKE OUT [AGE ...]`` aggregates each day of ``LAKE``'s
transactions (a ``flowlet bench dashboard`` lake) into a per-day compacted aggregates file, as
compaction leaves a day, in ``OUT/pristine``; then, for each age A (days of history already
rolled up), copies those files, rolls the oldest A days up in one round (a lake's *first*
roll-up of A days) and then the next day alone (the *daily* round a running lake makes once a
day, which merges one day into what is rolled up), timing both, and writes ``OUT/rollup.json``.

It uses only :func:`core.lake_aggregates.aggregate` and :func:`streams.lake_compactor.compact`,
so the same file times an older checkout too (``PYTHONPATH`` at it): that is how the roll-up's
before/after figures in ``dashboards/README.md`` were made.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

log = logging.getLogger(__name__)


def day_aggregates(lake: Path, out: Path) -> list[str]:
    """Each day's aggregates of ``lake``'s live transaction files, as one compacted file per
    day under ``out/aggregates``; the day folder names, oldest first."""
    from core.lake import lake_files
    from core.lake_aggregates import SOURCE_COLUMNS, aggregate
    from streams.lake_compactor import _compacted_name, _write_durably

    by_day: dict[str, list[str]] = {}
    for f in lake_files(lake):
        by_day.setdefault(Path(f).parent.name, []).append(f)
    for day, files in sorted(by_day.items()):
        names = pq.read_schema(files[0]).names
        rows = [pq.read_table(f, columns=[c for c in SOURCE_COLUMNS if c in names])
                for f in files]
        import pyarrow as pa

        _write_durably(aggregate(pa.concat_tables(rows)),
                       out / "aggregates" / day / _compacted_name(), [])
        log.info("aggregated %s", day)
    return sorted(by_day)


def time_rounds(pristine: Path, work: Path, days: list[str], age: int) -> dict[str, Any]:
    """Roll the oldest ``age`` days up in one round, then the next day: seconds and rows."""
    from core.db import make_engine
    from streams.lake_compactor import compact

    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(pristine, work)
    engine = make_engine(f"sqlite:///{work / 'flowlet.db'}")
    today = datetime.now(UTC).date()
    # Days strictly before today - keep_days are rolled up.
    keep = (today - date.fromisoformat(days[age].removeprefix("dt="))).days
    result: dict[str, Any] = {"age_days": age, "next_day": days[age]}
    for name, keep_days in (("first_round", keep), ("daily_round", keep - 1)):
        started = time.perf_counter()
        stats = compact(work / "lake", engine, grace_seconds=0.0, keep_days=keep_days)
        result[name] = {"seconds": round(time.perf_counter() - started, 2),
                        "rows_written": stats.rows_written, "files_written": stats.files_written}
        log.info("age %d %s: %s", age, name, result[name])
    engine.dispose()
    shutil.rmtree(work)
    return result


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    lake, out = Path(argv[0]), Path(argv[1])
    ages = [int(a) for a in argv[2:]] or [7, 14, 21, 28]
    pristine = out / "pristine"
    if not (pristine / "lake").exists():
        days = day_aggregates(lake, pristine / "lake")
    else:
        days = sorted(p.name for p in (pristine / "lake" / "aggregates").glob("dt=*"))
    rounds = [time_rounds(pristine, out / "work", days, age) for age in ages]
    report = {"lake": str(lake), "rounds": rounds, "load_average": list(os.getloadavg()),
              "measured_at": datetime.now(UTC).isoformat(timespec="seconds")}
    (out / "rollup.json").write_text(json.dumps(report, indent=2))
    log.info("roll-up rounds: %s", json.dumps(rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
