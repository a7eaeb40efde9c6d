"""Ledger: journals (hash-chained), entries, balance cache, chain head, FX rates; immutability.

Revision ID: 0001
Revises:
"""

from alembic import op

from ledger.schema import balances, chain_head, entries, fx_rates, journals

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS = "0" * 64
IMMUTABLE = ("ledger_journals", "ledger_entries")


def upgrade() -> None:
    bind = op.get_bind()
    for table in (journals, entries, balances, chain_head, fx_rates):
        table.create(bind)
    op.bulk_insert(chain_head, [{"id": 1, "seq": 0, "hash": GENESIS}])
    if bind.dialect.name == "postgresql":
        op.execute("""CREATE FUNCTION ledger_refuse_change() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'ledger rows are immutable (% on %)', TG_OP, TG_TABLE_NAME;
            END $$ LANGUAGE plpgsql""")
        for name in IMMUTABLE:
            op.execute(f"CREATE TRIGGER {name}_immutable BEFORE UPDATE OR DELETE ON {name} "
                       "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()")
    else:
        for name in IMMUTABLE:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {name}_no_{action.lower()} BEFORE {action} ON {name} "
                    f"BEGIN SELECT RAISE(ABORT, 'ledger rows are immutable'); END")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name in IMMUTABLE:
            op.execute(f"DROP TRIGGER IF EXISTS {name}_immutable ON {name}")
        op.execute("DROP FUNCTION IF EXISTS ledger_refuse_change()")
    for table in (fx_rates, chain_head, balances, entries, journals):
        op.drop_table(table.name)
