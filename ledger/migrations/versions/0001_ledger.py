"""Ledger: journals (hash-chained), entries, balance cache, chain head, FX rates; immutability.

The tables are spelled out here, frozen, rather than taken from ``ledger.schema``: a later
schema change must come as a new revision, never silently rewrite this one.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS = "0" * 64
IMMUTABLE = ("ledger_journals", "ledger_entries")
ID = 96


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "ledger_journals",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("transaction_id", sa.String(ID), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("occurred_at", _utc(), nullable=False),
        sa.Column("posted_at", _utc(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(300)),
        sa.Column("refers_to", sa.String(ID)),
        sa.Column("closes_hold", sa.String(ID)),
        sa.Column("reversal_of", sa.String(ID)),
        sa.Column("expires_at", _utc()),
        sa.Column("fx_rate", sa.String(64)),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    # Partial indexes: most journals leave these empty (see ledger.schema).
    for name, column, unique in (
        ("uq_ledger_journals_closes_hold", "closes_hold", True),
        ("uq_ledger_journals_reversal_of", "reversal_of", True),
        ("ix_ledger_journals_refers_to", "refers_to", False),
        ("ix_ledger_journals_pending", "expires_at", False),
    ):
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, "ledger_journals", [column], unique=unique,
                        sqlite_where=where, postgresql_where=where)
    op.create_table(
        "ledger_entries",
        sa.Column("entry_id", sa.Integer().with_variant(sa.BigInteger, "postgresql"),
                  primary_key=True, autoincrement=True),
        sa.Column("journal_seq", sa.BigInteger, sa.ForeignKey("ledger_journals.seq"),
                  nullable=False),
        sa.Column("transaction_id", sa.String(ID), nullable=False),
        sa.Column("leg", sa.Integer, nullable=False),
        sa.Column("ledger_account", sa.String(140), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("transaction_id", "leg", name="uq_ledger_entries_tx_leg"),
    )
    op.create_index("ix_ledger_entries_account", "ledger_entries",
                    ["ledger_account", "currency"])
    op.create_table(
        "ledger_balances",
        sa.Column("ledger_account", sa.String(140), primary_key=True),
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("balance", sa.BigInteger, nullable=False),
    )
    head = op.create_table(
        "ledger_chain_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS}])
    op.create_table(
        "ledger_fx_rates",
        sa.Column("base", sa.String(3), primary_key=True),
        sa.Column("quote", sa.String(3), primary_key=True),
        sa.Column("as_of", _utc(), primary_key=True),
        sa.Column("rate", sa.String(64), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
    )
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
    for name in ("ledger_fx_rates", "ledger_chain_head", "ledger_balances", "ledger_entries",
                 "ledger_journals"):
        op.drop_table(name)
