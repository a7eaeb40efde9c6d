"""The lake schema (``core.lake_schema``) is what the pipeline writes and the reader shows."""

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.lake import connect, lake_files
from core.lake_schema import TRANSACTION_COLUMNS, transaction_columns, transaction_schema
from simulator import Simulator
from streams.sink import LAKE_FEATURES, LakeSink, rows_table
from streams.testing import run_pipeline

T0 = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A lake written by the pipeline, with P2P, card and merchant events and alerts."""
    data_dir = tmp_path_factory.mktemp("lake")
    events = [t.event for t in Simulator(seed=5, n_accounts=30, n_merchants=8).generate(
        400, T0, T0 + timedelta(hours=6))]
    return data_dir, run_pipeline(events, data_dir)


def test_a_pipeline_row_is_the_declared_row(written):
    _, out = written
    declared = transaction_columns(LAKE_FEATURES)
    assert [c.name for c in TRANSACTION_COLUMNS][:2] == ["transaction_id", "event_type"]
    assert len(out.rows) == 400
    for row in out.rows:
        assert list(row) == [c.name for c in declared]
    for c in declared:
        values = [row[c.name] for row in out.rows]
        # Every value converts to the declared type without loss; required ones are set.
        back = pa.array(values, type=c.type).to_pylist()
        assert all(a == b or a != a and b != b for a, b in zip(back, values, strict=True)), c.name
        if not c.nullable:
            assert None not in values, c.name


def test_the_sinks_table_holds_what_from_pylist_would(written):
    """The sink builds its Arrow table column-wise (features through one matrix): the same
    values, NaN and NULL where ``from_pylist`` has them; a None feature takes the slow path."""
    _, out = written
    schema = transaction_schema(LAKE_FEATURES)
    with_none = [dict(out.rows[0], f_acct_count_1h=None), *out.rows[1:5]]
    for rows in (out.rows, with_none):
        fast, slow = rows_table(rows, schema), pa.Table.from_pylist(rows, schema=schema)
        assert fast.schema == slow.schema
        for name in schema.names:
            a, b = fast.column(name).to_pylist(), slow.column(name).to_pylist()
            assert all(x == y or x != x and y != y for x, y in zip(a, b, strict=True)), name
            assert fast.column(name).null_count == slow.column(name).null_count, name
    assert any(v != v for row in out.rows for v in row.values() if isinstance(v, float))


def test_lake_files_have_exactly_the_declared_schema(written):
    data_dir, _ = written
    files = lake_files(data_dir / "lake")
    assert files
    for f in files:
        assert pq.read_schema(f).remove_metadata() == transaction_schema(LAKE_FEATURES)


def test_the_reader_shows_the_declared_columns_and_types(written, tmp_path):
    data_dir, _ = written
    declared = [(c.name, c.duckdb_type) for c in TRANSACTION_COLUMNS]
    empty = connect(tmp_path / "none").sql("describe transactions").fetchall()
    assert [(name, kind) for name, kind, *_ in empty] == declared
    with_features = connect(tmp_path / "none", LAKE_FEATURES[:2]).sql(
        "describe transactions").fetchall()
    assert [r[0] for r in with_features][-2:] == [f"f_{n}" for n in LAKE_FEATURES[:2]]
    # DuckDB reads a written file's columns as the types the declaration derives.
    full = connect(data_dir / "lake").sql("describe transactions").fetchall()
    expected = [(c.name, c.duckdb_type) for c in transaction_columns(LAKE_FEATURES)]
    assert [(name, kind) for name, kind, *_ in full] == expected


def test_files_without_later_columns_read_them_as_null_with_the_declared_type(tmp_path):
    folder = tmp_path / "lake" / "transactions" / "dt=2026-05-01"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{"transaction_id": "old-1", "score": 0.9,
                                          "processed_at": T0, "occurred_at": T0}]),
                   folder / "part-old.parquet")
    con = connect(tmp_path / "lake", LAKE_FEATURES[:1])
    kinds = {name: kind for name, kind, *_ in con.sql("describe transactions").fetchall()}
    assert kinds == {c.name: c.duckdb_type for c in transaction_columns(LAKE_FEATURES[:1])}
    assert con.sql("select reason_codes, shadow_score, score_anomaly, "
                   f"f_{LAKE_FEATURES[0]} from transactions").fetchall() == [
        (None, None, None, None)]


def test_the_sink_refuses_rows_that_are_not_the_declared_row(written, tmp_path):
    from sqlalchemy import create_engine

    _, out = written
    sink = LakeSink(tmp_path / "lake", create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    row = dict(out.rows[0])
    with pytest.raises(ValueError, match=r"missing \['ledger_reason'\], undeclared \['extra'\]"):
        sink.write([{**{k: v for k, v in row.items() if k != "ledger_reason"}, "extra": 1}])
    with pytest.raises(pa.ArrowInvalid, match="non-nullable"):
        sink.write([{**row, "ledger_status": None}])
    assert lake_files(tmp_path / "lake") == []
    assert sink.write([row]) == 1
