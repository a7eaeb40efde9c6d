"""Compaction keeps every lake row exactly once, and the aggregates the dashboards read equal
the same questions asked of the raw rows — before compaction, after it, and while the sink
writes beside it."""

from __future__ import annotations

import fcntl
import math
import threading
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from pandas.testing import assert_frame_equal

from core.db import make_engine
from core.lake import connect, lake_files, part_files
from dashboards import queries
from flowlet.bench.dashboard import lake_rows
from streams.lake_compactor import BATCH_FILE, LOCK_FILE, LakeCompactor, compact
from streams.sink import LakeSink

END = datetime(2026, 5, 3, 12, 0, tzinfo=UTC)


#: Rejection reasons as the ledger words them: kinds of core.ledger_reasons, one no kind
#: matches, and none at all.
REASONS = ("insufficient funds: wallet:acct-1 has 0 EUR available, needs 5",
           "no EUR->JPY FX rate as of 2026-05-01T00:00:00+00:00",
           "authorization auth-7 is unknown", "tx-9 is a reversal", "a reason no kind knows",
           None)


@pytest.fixture(scope="module")
def batches() -> list[list[dict]]:
    """20,000 generated lake rows over 3 days, as the sink's 500-row batches; rejected rows
    with varied reasons."""
    rows: list[dict] = []
    for day in lake_rows(20_000, seed=3, end=END, days=3, accounts=1_500, merchants=60):
        rows += day.to_pylist()
    rejected = [r for r in rows if r["ledger_status"] == "rejected"]
    for i, r in enumerate(rejected):
        r["ledger_reason"] = REASONS[i % len(REASONS)]
    return [rows[i:i + 500] for i in range(0, len(rows), 500)]


@pytest.fixture
def lake(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'flowlet.db'}")
    yield tmp_path / "lake", engine
    engine.dispose()


def all_ids(batches) -> set[str]:
    return {r["transaction_id"] for b in batches for r in b}


# The dashboard's questions asked of raw rows (the deduplicated view), written independently.
RAW = {
    "volume_by_minute": """
        WITH m AS (SELECT time_bucket(INTERVAL 1 minute, occurred_at) AS minute, is_alert
                   FROM transactions)
        SELECT minute, count(*) AS transactions, count(*) FILTER (WHERE is_alert) AS alerts
        FROM m WHERE minute > (SELECT max(minute) FROM m) - INTERVAL 60 minute
        GROUP BY minute ORDER BY minute""",
    "amount_by_currency": """
        SELECT currency, count(*) AS transactions, sum(amount_minor)::BIGINT AS amount_minor
        FROM transactions GROUP BY currency ORDER BY amount_minor DESC, currency""",
    "score_histogram": """
        SELECT least(floor(score * 20), 19) / 20 AS score_bin, count(*) AS transactions
        FROM transactions GROUP BY ALL ORDER BY score_bin""",
    "model_versions": """
        SELECT model_version, count(*) AS transactions,
               count(*) FILTER (WHERE is_alert) AS alerts,
               count(*) FILTER (WHERE is_alert) / count(*) AS alert_rate,
               round(avg(score), 4) AS mean_score, max(score) AS max_score,
               max(processed_at) AS last_used
        FROM transactions GROUP BY model_version ORDER BY last_used DESC, model_version""",
    "alerts_by_source": """
        SELECT 'model' AS alert_source, model_version AS detail, count(*) AS alerts,
               max(occurred_at) AS last_alert
        FROM transactions WHERE is_alert GROUP BY ALL ORDER BY alerts DESC, alert_source, detail""",
    "top_accounts": """
        SELECT account_id, currency, count(*) AS transactions,
               count(*) FILTER (WHERE is_alert) AS alerts,
               sum(amount_minor)::BIGINT AS amount_minor,
               round(max(score), 4) AS max_score, max(occurred_at) AS last_seen
        FROM transactions GROUP BY ALL
        ORDER BY alerts DESC, transactions DESC, account_id, currency LIMIT 10""",
    "top_merchants": """
        SELECT merchant_id, currency, count(*) AS transactions,
               count(*) FILTER (WHERE is_alert) AS alerts,
               sum(amount_minor)::BIGINT AS amount_minor,
               round(max(score), 4) AS max_score, max(occurred_at) AS last_seen
        FROM transactions WHERE merchant_id IS NOT NULL GROUP BY ALL
        ORDER BY alerts DESC, transactions DESC, merchant_id, currency LIMIT 10""",
    "latest_high_risk": """
        SELECT occurred_at, transaction_id, account_id, event_type, amount_minor, currency,
               country, channel, round(score, 4) AS score,
               array_to_string(reason_codes, ', ') AS reasons, model_version
        FROM transactions WHERE is_alert ORDER BY occurred_at DESC, transaction_id LIMIT 20""",
}


def assert_aggregates_equal_raw(lake_dir, expected_rows: int) -> None:
    con = connect(lake_dir)
    raw = con.sql("""SELECT count(*), count(*) FILTER (WHERE is_alert),
                            count(*) FILTER (WHERE ledger_status = 'rejected'), avg(score),
                            median(epoch(processed_at - occurred_at))
                     FROM transactions""").fetchall()[0]
    k = queries.kpis(con)
    assert (k["transactions"], k["alerts"], k["ledger_rejected"]) == (expected_rows, *raw[1:3])
    assert raw[0] == expected_rows
    assert math.isclose(k["mean_score"], raw[3], rel_tol=1e-9)
    # The lag is kept as tenth-of-a-decade buckets: the median is within one bucket.
    assert abs(math.log10(k["median_lag_seconds"] / raw[4])) <= 0.1
    for name, sql in RAW.items():
        got = getattr(queries, name)(con)
        want = con.sql(sql).df()
        assert len(got) > 0, name
        assert_frame_equal(got.reset_index(drop=True), want, check_dtype=False,
                           check_exact=False, rtol=1e-9, obj=name)
    for name in ("amount_by_currency", "top_accounts", "top_merchants"):
        assert str(getattr(queries, name)(con)["amount_minor"].dtype) == "int64", name
    assert edges(con, "aggregates") == edges(con, "transactions")
    assert_rejections_from_the_cube(con)
    con.close()


def assert_rejections_from_the_cube(con) -> None:
    """The Ledger page's rejections by reason read from the rejection cube (not the rows:
    the cube holds every rejection) equal the same question asked of the deduplicated rows."""
    from dashboards import ledger_health

    ((in_cube,),) = con.sql("SELECT coalesce(sum(transactions), 0) FROM aggregates "
                            "WHERE cube = 'rejection'").fetchall()
    ((rejected,),) = con.sql("SELECT count(*) FROM transactions "
                             "WHERE ledger_status = 'rejected'").fetchall()
    assert in_cube == rejected > 0
    assert_frame_equal(ledger_health.rejections_by_reason(con),
                       ledger_health.rejections_from_rows(con), obj="rejections_by_reason")


def edges(con, source: str) -> list[tuple]:
    """Who paid whom, per currency: from the edges cube, or grouped from the raw rows."""
    measures = ("sum(transactions), sum(amount_minor)" if source == "aggregates"
                else "count(*), sum(amount_minor)")
    where = ("cube = 'edges'" if source == "aggregates"
             else "counterparty_account_id IS NOT NULL OR merchant_id IS NOT NULL")
    found = con.sql(
        f"""SELECT account_id, counterparty_account_id, merchant_id, currency, {measures}
            FROM {source} WHERE {where} GROUP BY ALL ORDER BY ALL""").fetchall()
    assert found, source
    return found


def test_aggregates_answer_as_the_raw_rows_do_before_and_after_compaction(lake, batches):
    lake_dir, engine = lake
    sink = LakeSink(lake_dir, engine)
    for b in batches[:25]:
        sink.write(b)
    sink.write(batches[3] + batches[7][:100])  # a redelivery: no row may count twice
    assert_aggregates_equal_raw(lake_dir, 25 * 500)

    stats = compact(lake_dir, engine, grace_seconds=0.0)
    assert stats.batches >= 25 and stats.waiting == 0
    assert len(lake_files(lake_dir)) == 3  # one compacted file per day
    assert_aggregates_equal_raw(lake_dir, 25 * 500)

    for b in batches[25:]:  # the tail again, on top of compacted files
        sink.write(b)
    assert_aggregates_equal_raw(lake_dir, 20_000)
    compact(lake_dir, engine, grace_seconds=0.0)
    assert_aggregates_equal_raw(lake_dir, 20_000)


def test_the_parity_check_can_fail(lake, batches):
    """A row counted twice in the aggregates (a second aggregate file of a batch) is caught."""
    import shutil

    lake_dir, engine = lake
    LakeSink(lake_dir, engine).write(batches[0])
    (agg,) = part_files(lake_dir / "aggregates")
    shutil.copy(agg, agg.with_name("part-" + "f" * 32 + ".parquet"))
    with pytest.raises(AssertionError):
        assert_aggregates_equal_raw(lake_dir, 500)


def counts(lake_dir) -> tuple[int, int]:
    """Rows in the live files *without* deduplication, and distinct ids among them."""
    return connect(lake_dir).sql(
        "SELECT count(*), count(DISTINCT transaction_id) FROM lake_rows").fetchall()[0]


def test_compaction_keeps_every_row_exactly_once_and_deletes_after_the_grace(lake, batches):
    lake_dir, engine = lake
    sink = LakeSink(lake_dir, engine)
    for b in batches[:10]:
        sink.write(b)
    before = len(part_files(lake_dir / "transactions"))
    compact(lake_dir, engine, grace_seconds=3600)
    # Superseded, not deleted yet: readers already read only the compacted files.
    assert len(part_files(lake_dir / "transactions")) > before
    assert counts(lake_dir) == (5_000, 5_000)
    ids = {r[0] for r in connect(lake_dir).sql("SELECT transaction_id FROM lake_rows").fetchall()}
    assert ids == all_ids(batches[:10])
    stats = compact(lake_dir, engine, grace_seconds=0.0)
    # The batches' row and aggregate files (and the days' aggregates, rolled up) are gone.
    assert stats.files_deleted >= before * 2
    assert not [f for table in ("transactions", "aggregates")
                for f in part_files(lake_dir / table) if BATCH_FILE.match(f.name)]
    assert counts(lake_dir) == (5_000, 5_000)
    # Merging open compacted files passes their superseded names on: nothing comes back.
    for b in batches[10:16]:
        sink.write(b)
        compact(lake_dir, engine, grace_seconds=0.0, merge_factor=3)
    assert counts(lake_dir) == (8_000, 8_000)
    assert_aggregates_equal_raw(lake_dir, 8_000)


class CrashingSink(LakeSink):
    """Dies after renaming its files, before its claims commit."""

    def _write_files(self, rows, file_id):
        super()._write_files(rows, file_id)
        raise KeyboardInterrupt("killed between rename and commit")


def test_an_unclaimed_copy_waits_then_is_dropped_once_the_redelivery_claims_it(lake, batches):
    lake_dir, engine = lake
    with pytest.raises(KeyboardInterrupt):
        CrashingSink(lake_dir, engine).write(batches[0])
    sink = LakeSink(lake_dir, engine)
    sink.write(batches[1])
    stats = compact(lake_dir, engine, grace_seconds=0.0)
    assert stats.waiting == 1  # maybe committing right now: left alone
    assert counts(lake_dir) == (1_000, 1_000)
    assert sink.write(batches[0]) == 500  # the redelivery
    assert counts(lake_dir) == (1_500, 1_000)  # the view's deduplication covers the copy
    stats = compact(lake_dir, engine, grace_seconds=0.0)
    assert (stats.orphans, stats.waiting) == (1, 0)
    assert counts(lake_dir) == (1_000, 1_000)
    assert_aggregates_equal_raw(lake_dir, 1_000)


def test_a_crash_between_aggregates_and_rows_does_not_count_twice(lake, batches, monkeypatch):
    lake_dir, engine = lake
    sink = LakeSink(lake_dir, engine)
    for b in batches[:4]:
        sink.write(b)
    real = LakeCompactor._write
    calls = []

    def dies_on_rows(self, folder, *args, **kwargs):
        if folder.parent.name == "transactions":
            raise KeyboardInterrupt("killed after the aggregates' rename")
        calls.append(folder)
        return real(self, folder, *args, **kwargs)

    monkeypatch.setattr(LakeCompactor, "_write", dies_on_rows)
    with pytest.raises(KeyboardInterrupt):
        compact(lake_dir, engine, grace_seconds=0.0)
    assert calls
    assert_aggregates_equal_raw(lake_dir, 2_000)
    monkeypatch.setattr(LakeCompactor, "_write", real)
    # Before the rows move: roll the days up, delete whatever the grace allows. The batches'
    # aggregate files must stay (their rows are live), as the record they are counted.
    from streams.lake_compactor import CompactionStats

    survivor = LakeCompactor(lake_dir, engine, grace_seconds=0.0)
    survivor._roll_up(CompactionStats())
    survivor._delete_superseded()
    assert_aggregates_equal_raw(lake_dir, 2_000)
    # A late batch, the same crash, a second roll-up over the first: still counted once.
    sink.write(batches[4])
    monkeypatch.setattr(LakeCompactor, "_write", dies_on_rows)
    with pytest.raises(KeyboardInterrupt):
        compact(lake_dir, engine, grace_seconds=0.0)
    monkeypatch.setattr(LakeCompactor, "_write", real)
    survivor._roll_up(CompactionStats())
    survivor._delete_superseded()
    assert_aggregates_equal_raw(lake_dir, 2_500)
    compact(lake_dir, engine, grace_seconds=0.0)
    assert counts(lake_dir) == (2_500, 2_500)
    assert_aggregates_equal_raw(lake_dir, 2_500)


def test_a_second_compactor_skips_while_one_holds_the_lock(lake):
    lake_dir, engine = lake
    lake_dir.mkdir(parents=True)
    with open(lake_dir / LOCK_FILE, "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert compact(lake_dir, engine).skipped
    assert not compact(lake_dir, engine).skipped


def test_compaction_racing_the_sink_and_another_compactor_shows_each_row_once(lake, batches):
    """Two compactors loop while the sink writes; a reader checks every snapshot: no row twice,
    no committed row missing, aggregates between what was committed before and after."""
    lake_dir, engine = lake
    sink = LakeSink(lake_dir, engine)
    committed: set[str] = set()
    lock = threading.Lock()
    done = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for b in batches:
                sink.write(b)
                with lock:
                    committed.update(r["transaction_id"] for r in b)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            done.set()

    def compact_loop() -> None:
        try:
            while not done.is_set():
                compact(lake_dir, engine, grace_seconds=60.0, merge_factor=2)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=write)] + [
        threading.Thread(target=compact_loop) for _ in range(2)]
    for t in threads:
        t.start()
    snapshots = 0
    while not done.is_set() or snapshots < 3:
        with lock:
            before = set(committed)
        con = connect(lake_dir)
        ids = [r[0] for r in con.sql("SELECT transaction_id FROM lake_rows").fetchall()]
        aggregated = queries.kpis(con)["transactions"]
        with lock:
            after = set(committed)
        assert len(ids) == len(set(ids)), "a row read twice"
        assert before <= set(ids), "a committed row missing"
        assert set(ids) <= after | all_ids(batches)
        assert len(before) <= aggregated <= len(after) + 500  # + a batch renamed, not committed
        snapshots += 1
    for t in threads:
        t.join()
    assert not errors, errors
    compact(lake_dir, engine, grace_seconds=0.0)
    assert counts(lake_dir) == (20_000, 20_000)
    assert_aggregates_equal_raw(lake_dir, 20_000)
    assert len(lake_files(lake_dir)) <= 3 * 2  # per day: at most one open file per merge


def test_generated_rows_have_the_declared_schema():
    from core.lake_schema import transaction_schema
    from streams.sink import LAKE_FEATURES

    (day,) = lake_rows(1_000, end=END, days=1)
    assert day.schema == transaction_schema(LAKE_FEATURES)
    assert pa.compute.sum(day["is_alert"]).as_py() > 0
    assert isinstance(day.to_pandas(), pd.DataFrame)


def test_past_days_roll_up_so_an_account_is_one_group_not_one_per_day(lake, batches):
    lake_dir, engine = lake
    sink = LakeSink(lake_dir, engine)
    for b in batches:
        sink.write(b)
    compact(lake_dir, engine, grace_seconds=0.0, keep_days=10_000)  # nothing is past yet
    con = connect(lake_dir)
    per_day = con.sql("SELECT count(*) FROM aggregates WHERE cube = 'account'").fetchall()[0][0]
    compact(lake_dir, engine, grace_seconds=0.0)  # the three days are long past
    # Rolled up by month (the days run from 30 April to 3 May).
    assert [f.parent.name for f in part_files(lake_dir / "aggregates")] == [
        "dt=rollup-2026-04", "dt=rollup-2026-05"]
    con = connect(lake_dir)
    groups = con.sql("SELECT count(*) FROM aggregates WHERE cube = 'account'").fetchall()[0][0]
    distinct = con.sql("SELECT count(DISTINCT (account_id, currency, date_trunc('month', "
                       "occurred_at AT TIME ZONE 'UTC'))) FROM transactions").fetchall()[0][0]
    assert groups == distinct < per_day
    assert_aggregates_equal_raw(lake_dir, 20_000)


def test_a_roll_up_round_rewrites_only_the_months_it_adds_days_to(lake, batches):
    """The roll-up's cost per round is one month's groups, not the whole history's: a past
    month's roll-up file is left as it is when only later days come in."""
    lake_dir, engine = lake
    sink = LakeSink(lake_dir, engine)
    may = [b for b in batches if b[0]["occurred_at"].month == 5 and b[-1]["occurred_at"].month == 5]
    earlier = [b for b in batches if b not in may]
    for b in earlier:
        sink.write(b)
    compact(lake_dir, engine, grace_seconds=0.0)
    april = [f for f in part_files(lake_dir / "aggregates") if f.parent.name.endswith("-04")]
    assert len(april) == 1
    april_bytes = april[0].read_bytes()
    for b in may:
        sink.write(b)
    stats = compact(lake_dir, engine, grace_seconds=0.0)
    assert stats.files_written >= 2
    assert [f for f in part_files(lake_dir / "aggregates")
            if f.parent.name.endswith("-04")] == april  # not rewritten
    assert april[0].read_bytes() == april_bytes
    assert_aggregates_equal_raw(lake_dir, 20_000)


def test_a_lake_rolled_up_into_one_folder_before_keeps_it_and_adds_months(lake, batches):
    """A lake whose past days were rolled up into ``dt=rollup`` (before the roll-up went
    monthly) keeps reading that file; later days roll up by month beside it, counted once."""
    import os

    lake_dir, engine = lake
    sink = LakeSink(lake_dir, engine)
    for b in batches[:20]:
        sink.write(b)
    compact(lake_dir, engine, grace_seconds=0.0)
    for folder in (lake_dir / "aggregates").glob("dt=rollup-*"):  # as an older compactor left it
        os.rename(folder, folder.with_name("dt=rollup-legacy-tmp"))
        legacy = folder.with_name("dt=rollup")
        os.rename(folder.with_name("dt=rollup-legacy-tmp"), legacy)
        break
    assert (lake_dir / "aggregates" / "dt=rollup").is_dir()
    assert_aggregates_equal_raw(lake_dir, 10_000)
    for b in batches[20:]:
        sink.write(b)
    compact(lake_dir, engine, grace_seconds=0.0)
    assert_aggregates_equal_raw(lake_dir, 20_000)
    assert len(list((lake_dir / "aggregates" / "dt=rollup").glob("part-*.parquet"))) == 1


def test_rejections_are_read_from_rows_when_the_aggregates_predate_the_rejection_cube(
        lake, batches):
    """Aggregate files written before the rejection cube lack it: the page then reads the rows
    (the cube's total falls short of the minute cube's rejected count) — same answer."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from dashboards import ledger_health

    lake_dir, engine = lake
    sink = LakeSink(lake_dir, engine)
    for b in batches[:6]:
        sink.write(b)
    compact(lake_dir, engine, grace_seconds=0.0, keep_days=10_000)
    for f in lake_files(lake_dir, "aggregates"):  # as an older compactor wrote them
        table = pq.read_table(f)
        old = table.filter(pc.not_equal(table["cube"], "rejection")).drop_columns(
            ["reason_kind", "last_reason"])
        pq.write_table(old.replace_schema_metadata(table.schema.metadata), f)
    con = connect(lake_dir)
    got = ledger_health.rejections_by_reason(con)
    assert got["transactions"].sum() == con.sql(
        "SELECT count(*) FROM transactions WHERE ledger_status = 'rejected'").fetchall()[0][0] > 0
    assert_frame_equal(got, ledger_health.rejections_from_rows(con))


def test_a_sink_without_batch_aggregates_is_counted_from_the_next_compaction(lake, batches):
    lake_dir, engine = lake
    sink = LakeSink(lake_dir, engine, write_aggregates=False)
    for b in batches[:4]:
        sink.write(b)
    assert queries.kpis(connect(lake_dir))["transactions"] == 0
    compact(lake_dir, engine, grace_seconds=0.0)
    assert_aggregates_equal_raw(lake_dir, 2_000)


def test_compacted_files_are_clustered_by_account_in_row_groups(lake, batches, monkeypatch):
    """Sorted by (account, event time) in several row groups whose account ranges do not
    overlap, each with a bloom filter on the payee: what lets a reader of one account skip
    the rest of the file. Holds after a second round merges the open files too."""
    import pyarrow.parquet as pq

    import streams.lake_compactor as compactor

    monkeypatch.setattr(compactor, "_ROW_GROUP_ROWS", 500)
    lake_dir, engine = lake
    sink = LakeSink(lake_dir, engine)
    for b in batches[:20]:
        sink.write(b)
    compact(lake_dir, engine, grace_seconds=0.0, merge_factor=2)
    for b in batches[20:]:
        sink.write(b)
    compact(lake_dir, engine, grace_seconds=0.0, merge_factor=2)
    files = [Path(f) for f in lake_files(lake_dir)]
    assert files and all(f.name.startswith("part-compacted-") for f in files)
    for f in files:
        table = pq.read_table(f, columns=["account_id", "occurred_at"])
        keys = list(zip(table.column("account_id").to_pylist(),
                        table.column("occurred_at").to_pylist(), strict=True))
        assert keys == sorted(keys), f.name
        meta = pq.ParquetFile(f).metadata
        assert meta.num_row_groups >= 3, f.name
        names = meta.schema.to_arrow_schema().names
        account, payee = names.index("account_id"), names.index("counterparty_account_id")
        ranges = [(meta.row_group(i).column(account).statistics.min,
                   meta.row_group(i).column(account).statistics.max)
                  for i in range(meta.num_row_groups)]
        # each group starts at or after where the previous one ended: an account = x filter
        # reads at most the groups whose range holds x (two when x spans a boundary)
        assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:], strict=False)), f.name
        assert all(meta.row_group(i).column(payee).bloom_filter_length > 0
                   for i in range(meta.num_row_groups)), f.name
    assert counts(lake_dir) == (20_000, 20_000)


def test_compacted_aggregates_are_clustered_by_cube_then_account(lake, batches, monkeypatch):
    """An account's groups of the edges cube lie in one run of a file (not one run per
    currency), in row groups with bloom filters on both account columns: the case page's
    network reads one or two row groups per file."""
    import pyarrow.parquet as pq

    import streams.lake_compactor as compactor
    from core.lake_aggregates import SORT_ORDER

    monkeypatch.setattr(compactor, "_AGGREGATE_ROW_GROUP_ROWS", 2_000)
    lake_dir, engine = lake
    sink = LakeSink(lake_dir, engine)
    for b in batches:
        sink.write(b)
    compact(lake_dir, engine, grace_seconds=0.0, keep_days=10_000)
    compact(lake_dir, engine, grace_seconds=0.0)  # and the roll-up
    files = [Path(f) for f in lake_files(lake_dir, "aggregates")]
    assert len(files) == 2
    for f in files:
        df = pq.read_table(f).to_pandas()
        assert SORT_ORDER[:2] == ("cube", "account_id")
        keys = list(zip(df["cube"], df["account_id"].fillna("\uffff"), strict=True))  # NULL last
        assert keys == sorted(keys)
        edges_cube = df[df["cube"] == "edges"]
        runs = (edges_cube["account_id"] != edges_cube["account_id"].shift()).sum()
        assert runs == edges_cube["account_id"].nunique() > 100  # one run per account
        meta = pq.ParquetFile(f).metadata
        names = meta.schema.to_arrow_schema().names
        assert meta.num_row_groups >= 3
        for column in ("account_id", "counterparty_account_id"):
            assert all(meta.row_group(i).column(names.index(column)).bloom_filter_length > 0
                       for i in range(meta.num_row_groups)), (f.name, column)
