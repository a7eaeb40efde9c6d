from alembic import command
from sqlalchemy import inspect

from ledger import Ledger
from ledger.migrate import alembic_config, migrate
from ledger.store import make_engine


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
    """Revision 0002: no surrogate id, (journal_seq, leg) is the primary key."""
    engine = make_engine(ledger_url)
    migrate(engine)
    insp = inspect(engine)
    assert insp.get_pk_constraint("ledger_entries")["constrained_columns"] == [
        "journal_seq", "leg"]
    assert "entry_id" not in {c["name"] for c in insp.get_columns("ledger_entries")}
    engine.dispose()


def test_a_ledger_written_at_0001_upgrades_with_its_rows_guards_and_chain(ledger_url):
    from datetime import UTC, datetime, timedelta

    import pytest
    from sqlalchemy import delete, func, select, update
    from sqlalchemy.exc import DBAPIError

    from ledger import verify
    from ledger.schema import entries
    from models.simulator import Simulator

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    events = [t.event for t in Simulator(seed=5, n_accounts=20, n_merchants=5).generate(
        300, t0, t0 + timedelta(days=1))]
    engine = make_engine(ledger_url)
    migrate(engine, "0001")
    old = Ledger(engine)
    old.post_batch(events[:150])  # the posting path writes no entry_id: valid at 0001 too
    with engine.connect() as conn:
        before = conn.execute(select(entries).order_by(entries.c.journal_seq,
                                                       entries.c.leg)).all()
    migrate(engine)
    with engine.connect() as conn:
        after = conn.execute(select(entries).order_by(entries.c.journal_seq,
                                                      entries.c.leg)).all()
    assert [tuple(r) for r in after] == [tuple(r) for r in before] and after
    ledger = Ledger.from_url(ledger_url)
    ledger.post_batch(events[150:])
    report = verify(ledger)
    assert report.ok, report.render()
    for stmt in (update(entries).values(amount_minor=1), delete(entries)):
        with pytest.raises(DBAPIError, match="immutable"), engine.begin() as conn:
            conn.execute(stmt)
    cfg = alembic_config()  # and down to 0001 again, rows kept
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    assert "entry_id" in {c["name"] for c in inspect(engine).get_columns("ledger_entries")}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(entries)).scalar_one() > len(after)
    assert verify(ledger).ok
    engine.dispose()
    ledger.engine.dispose()
