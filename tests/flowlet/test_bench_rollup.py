"""The roll-up bench: per-day aggregates of a lake, then a first and a daily roll-up round."""

import json
from datetime import UTC, datetime

import pyarrow.parquet as pq

from core.lake import part_files
from flowlet.bench.dashboard import lake_rows
from flowlet.bench.rollup import main
from streams.lake_compactor import write_compacted_rows


def test_the_rollup_bench_times_a_first_round_then_one_more_day(tmp_path):
    lake = tmp_path / "lake"
    for day in lake_rows(3_000, end=datetime.now(UTC), days=6, accounts=200, merchants=10):
        write_compacted_rows(lake, day)
    out = tmp_path / "out"
    assert main([str(lake), str(out), "2", "4"]) == 0
    report = json.loads((out / "rollup.json").read_text())
    assert [r["age_days"] for r in report["rounds"]] == [2, 4]
    for r in report["rounds"]:
        assert r["first_round"]["files_written"] >= 1 and r["first_round"]["rows_written"] > 0
        assert r["daily_round"]["files_written"] == 1  # one day goes into its month's roll-up
        assert r["daily_round"]["seconds"] >= 0
    # The per-day aggregates hold every row of the lake once.
    days = part_files(out / "pristine" / "lake" / "aggregates")
    assert len(days) == len({f.parent.name for f in part_files(lake / "transactions")})
    minute = sum(sum(n for c, n in zip(t["cube"].to_pylist(), t["transactions"].to_pylist(),
                                       strict=True) if c == "minute")
                 for t in (pq.read_table(f) for f in days))
    assert minute == 3_000
    assert not (out / "work").exists()
