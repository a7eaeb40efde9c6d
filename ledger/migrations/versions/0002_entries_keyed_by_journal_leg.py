"""Entries keyed by (journal_seq, leg): no surrogate id, no second unique index per entry.

Revision 0001 gave ``ledger_entries`` a surrogate ``entry_id`` and a unique index on
``(transaction_id, leg)`` — random text keys, so every posted leg paid for a B-tree insert at
a random place in a large index (the posting hot path was index-bound). An entry is identified
by its journal and leg number just as well: ``journal_seq`` is unique per journal (and
``transaction_id`` is unique per journal in ``ledger_journals``), so ``(journal_seq, leg)`` as
the primary key keeps the same uniqueness, and its keys only ever grow, so inserts append.
On SQLite the table becomes ``WITHOUT ROWID`` (the rows live in that primary key).

The immutability triggers are kept (recreated on SQLite, where the table is rebuilt).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = 96
TABLE = "ledger_entries"


def _sqlite_triggers() -> None:
    for action in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER {TABLE}_no_{action.lower()} BEFORE {action} ON {TABLE} "
                   "BEGIN SELECT RAISE(ABORT, 'ledger rows are immutable'); END")


def _sqlite_rebuild(new_shape: bool) -> None:
    """SQLite cannot change a primary key in place: build the new table, copy, swap."""
    columns = [
        sa.Column("journal_seq", sa.BigInteger, sa.ForeignKey("ledger_journals.seq"),
                  nullable=False),
        sa.Column("transaction_id", sa.String(ID), nullable=False),
        sa.Column("leg", sa.Integer, nullable=False),
        sa.Column("ledger_account", sa.String(140), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
    ]
    copied = ", ".join(c.name for c in columns)
    if new_shape:
        op.create_table(f"{TABLE}_new", *columns,
                        sa.PrimaryKeyConstraint("journal_seq", "leg", name="pk_ledger_entries"),
                        sqlite_with_rowid=False)
    else:
        op.create_table(f"{TABLE}_new",
                        sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=True),
                        *columns,
                        sa.UniqueConstraint("transaction_id", "leg",
                                            name="uq_ledger_entries_tx_leg"))
    op.execute(f"INSERT INTO {TABLE}_new ({copied}) "
               f"SELECT {copied} FROM {TABLE} ORDER BY journal_seq, leg")
    # Dropping the table drops its index and triggers; the implicit delete fires no trigger.
    op.drop_table(TABLE)
    op.rename_table(f"{TABLE}_new", TABLE)
    op.create_index("ix_ledger_entries_account", TABLE, ["ledger_account", "currency"])
    _sqlite_triggers()


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild(new_shape=True)
        return
    op.drop_constraint("uq_ledger_entries_tx_leg", TABLE, type_="unique")
    op.drop_column(TABLE, "entry_id")  # takes its primary key and sequence along
    op.create_primary_key("pk_ledger_entries", TABLE, ["journal_seq", "leg"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild(new_shape=False)
        return
    op.drop_constraint("pk_ledger_entries", TABLE, type_="primary")
    op.add_column(TABLE, sa.Column("entry_id", sa.BigInteger, sa.Identity(), nullable=False))
    op.create_primary_key("ledger_entries_pkey", TABLE, ["entry_id"])
    op.create_unique_constraint("uq_ledger_entries_tx_leg", TABLE, ["transaction_id", "leg"])
