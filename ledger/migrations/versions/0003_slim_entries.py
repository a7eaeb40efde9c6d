"""Slimmer entries: no copy of the journal's transaction id, no index by account.

``ledger_entries.transaction_id`` repeated ``ledger_journals.transaction_id`` on every leg:
the journal is already named by ``journal_seq`` (the foreign key, and the first half of the
primary key), so the column cost bytes on every entry and could only disagree with its
journal. Reads that want the id join the journal on ``seq``.

``ix_ledger_entries_account`` (account, currency) put every posted leg at a random place in
a B-tree — about a fifth of the posting hot path's CPU on SQLite — and no query needs it:
balances are read from ``ledger_balances`` (kept in the posting transaction; ``verify``
proves it equal to the entries), ``verify`` and the trial balance scan the whole table, and
``Ledger.balance`` (tests, diagnostics) scans too. A reporting database that wants account
statements can create it there (``CREATE INDEX … (ledger_account, currency)``).

The immutability triggers are kept (recreated on SQLite, where the table is rebuilt). The
downgrade restores both, filling ``transaction_id`` from the journals.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = 96
TABLE = "ledger_entries"
INDEX = "ix_ledger_entries_account"


def _sqlite_rebuild(with_transaction_id: bool) -> None:
    """SQLite: build the other shape, copy (the journal's id when it comes back), swap."""
    columns = [
        sa.Column("journal_seq", sa.BigInteger, sa.ForeignKey("ledger_journals.seq"),
                  nullable=False),
        *([sa.Column("transaction_id", sa.String(ID), nullable=False)]
          if with_transaction_id else []),
        sa.Column("leg", sa.Integer, nullable=False),
        sa.Column("ledger_account", sa.String(140), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
    ]
    op.create_table(f"{TABLE}_new", *columns,
                    sa.PrimaryKeyConstraint("journal_seq", "leg", name="pk_ledger_entries"),
                    sqlite_with_rowid=False)
    names = ", ".join(c.name for c in columns)
    source = ", ".join("j.transaction_id" if c.name == "transaction_id" else f"e.{c.name}"
                       for c in columns)
    op.execute(f"INSERT INTO {TABLE}_new ({names}) SELECT {source} FROM {TABLE} e "
               "JOIN ledger_journals j ON j.seq = e.journal_seq ORDER BY e.journal_seq, e.leg")
    # Dropping the table drops its index and triggers; the implicit delete fires no trigger.
    op.drop_table(TABLE)
    op.rename_table(f"{TABLE}_new", TABLE)
    if with_transaction_id:
        op.create_index(INDEX, TABLE, ["ledger_account", "currency"])
    for action in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER {TABLE}_no_{action.lower()} BEFORE {action} ON {TABLE} "
                   "BEGIN SELECT RAISE(ABORT, 'ledger rows are immutable'); END")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild(with_transaction_id=False)
        return
    op.drop_index(INDEX, table_name=TABLE)
    op.drop_column(TABLE, "transaction_id")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild(with_transaction_id=True)
        return
    op.add_column(TABLE, sa.Column("transaction_id", sa.String(ID)))
    # The immutability trigger refuses the fill; lift it inside this transaction only.
    op.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER {TABLE}_immutable")
    op.execute(f"UPDATE {TABLE} e SET transaction_id = j.transaction_id "
               "FROM ledger_journals j WHERE j.seq = e.journal_seq")
    op.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER {TABLE}_immutable")
    op.alter_column(TABLE, "transaction_id", nullable=False)
    op.create_index(INDEX, TABLE, ["ledger_account", "currency"])
