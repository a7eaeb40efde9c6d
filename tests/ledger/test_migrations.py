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
