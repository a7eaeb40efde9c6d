from alembic import command
from sqlalchemy import inspect

from core.db import make_engine
from ledger import Ledger
from ledger.migrate import alembic_config, migrate


def test_schema_is_managed_by_alembic_and_upgrades_are_idempotent(ledger_url):
    engine = make_engine(ledger_url)
    migrate(engine)
    migrate(engine)  # already at head: a no-op
    tables = set(inspect(engine).get_table_names())
    assert {"ledger_journals", "ledger_entries", "ledger_balances", "ledger_chain_head",
            "ledger_fx_rates", "ledger_alembic_version"} <= tables
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert "ledger_journals" not in set(inspect(engine).get_table_names())
    ledger = Ledger.from_url(ledger_url)  # and back up again
    assert ledger.journal_count() == 0
    engine.dispose()
    ledger.engine.dispose()


def test_the_migrated_schema_matches_the_declared_tables(ledger_url):
    """Revision 0001 is frozen; ledger.schema is what the code uses. They must agree."""
    from ledger.schema import metadata

    engine = make_engine(ledger_url)
    migrate(engine)
    insp = inspect(engine)
    for table in metadata.sorted_tables:
        live = {c["name"]: c for c in insp.get_columns(table.name)}
        assert set(live) == set(table.c.keys()), table.name
        for column in table.c:
            assert live[column.name]["nullable"] == column.nullable or column.primary_key, (
                table.name, column.name)
        declared = {ix.name for ix in table.indexes}
        assert declared <= {ix["name"] for ix in insp.get_indexes(table.name)}, table.name
    engine.dispose()


def test_entries_are_keyed_by_journal_and_leg(ledger_url):
    """Revision 0002: no surrogate id, (journal_seq, leg) is the primary key; 0004 puts the
    journal's shard first."""
    engine = make_engine(ledger_url)
    migrate(engine)
    insp = inspect(engine)
    assert insp.get_pk_constraint("ledger_entries")["constrained_columns"] == [
        "journal_shard", "journal_seq", "leg"]
    assert "entry_id" not in {c["name"] for c in insp.get_columns("ledger_entries")}
    engine.dispose()


def _downgrade(engine, revision: str) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _posted_ledger(ledger_url):
    from datetime import UTC, datetime, timedelta

    from simulator import Simulator

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    events = [t.event for t in Simulator(seed=5, n_accounts=20, n_merchants=5).generate(
        300, t0, t0 + timedelta(days=1))]
    ledger = Ledger.from_url(ledger_url)
    ledger.post_batch(events[:150])
    return ledger, events[150:]


def _entry_rows(engine):
    from sqlalchemy import text

    with engine.connect() as conn:  # the columns every revision has
        return [tuple(r) for r in conn.execute(text(
            "SELECT journal_seq, leg, ledger_account, currency, amount_minor "
            "FROM ledger_entries ORDER BY journal_seq, leg"))]


def _assert_immutable(engine) -> None:
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    for sql in ("UPDATE ledger_entries SET amount_minor = 1", "DELETE FROM ledger_entries"):
        with pytest.raises(DBAPIError, match="immutable"), engine.begin() as conn:
            conn.execute(text(sql))


def test_a_ledger_round_trips_down_to_0001_and_up_with_its_rows_guards_and_chain(ledger_url):
    """Down to 0001 (surrogate entry_id, the entries' copy of the transaction id, the account
    index) and up to head again: rows, immutability and the hash chain survive both ways."""
    from sqlalchemy import text

    from ledger import verify

    ledger, more = _posted_ledger(ledger_url)
    engine = ledger.engine
    before = _entry_rows(engine)
    assert before
    _downgrade(engine, "0001")
    insp = inspect(engine)
    assert "entry_id" in {c["name"] for c in insp.get_columns("ledger_entries")}
    assert "ix_ledger_entries_account" in {ix["name"] for ix in insp.get_indexes(
        "ledger_entries")}
    with engine.connect() as conn:  # the id copy came back, filled from the journals
        assert conn.execute(text(
            "SELECT count(*) FROM ledger_entries e JOIN ledger_journals j "
            "ON j.seq = e.journal_seq AND j.transaction_id = e.transaction_id")
        ).scalar_one() == len(before)
    assert _entry_rows(engine) == before
    _assert_immutable(engine)
    migrate(engine)
    assert _entry_rows(engine) == before
    _assert_immutable(engine)
    assert verify(ledger).ok
    ledger.post_batch(more)
    report = verify(ledger)
    assert report.ok, report.render()
    assert len(_entry_rows(engine)) > len(before)
    engine.dispose()


def test_revision_0003_drops_the_entries_id_copy_and_account_index_and_back(ledger_url):
    """0003: entries name their journal by seq only and carry no index by account; the
    downgrade to 0002 restores both (the id filled from the journals) with the guards."""
    from sqlalchemy import text

    from ledger import verify

    ledger, more = _posted_ledger(ledger_url)
    engine = ledger.engine
    insp = inspect(engine)
    assert "transaction_id" not in {c["name"] for c in insp.get_columns("ledger_entries")}
    assert insp.get_indexes("ledger_entries") == []
    before = _entry_rows(engine)
    _downgrade(engine, "0002")
    insp = inspect(engine)
    live = {c["name"]: c for c in insp.get_columns("ledger_entries")}
    assert not live["transaction_id"]["nullable"]
    assert insp.get_pk_constraint("ledger_entries")["constrained_columns"] == [
        "journal_seq", "leg"]
    assert [ix["column_names"] for ix in insp.get_indexes("ledger_entries")] == [
        ["ledger_account", "currency"]]
    with engine.connect() as conn:
        assert conn.execute(text(
            "SELECT count(*) FROM ledger_entries e JOIN ledger_journals j "
            "ON j.seq = e.journal_seq AND j.transaction_id = e.transaction_id")
        ).scalar_one() == len(before)
    assert _entry_rows(engine) == before
    _assert_immutable(engine)
    migrate(engine)
    assert _entry_rows(engine) == before
    _assert_immutable(engine)
    ledger.post_batch(more)
    report = verify(ledger)
    assert report.ok, report.render()
    engine.dispose()
