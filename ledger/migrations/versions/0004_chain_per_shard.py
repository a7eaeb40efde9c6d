"""One hash chain per shard: journals keyed by (shard, seq), one chain head row per shard.

Until 0003 every batch locked the one chain head row, so every writer waited for every other.
Now a batch locks the head of its own shard (the worker's Kafka partition); shards number and
chain their journals independently. The existing chain becomes shard 0, unchanged: its rows
get ``shard`` 0, its head row (id 1) becomes shard 0's, and shard 0's genesis is the same
all-zero hash (``ledger.chain.genesis``), so every stored hash still verifies.

``ledger_entries`` names its journal by (journal_shard, journal_seq). PostgreSQL adds the
columns with a constant default (no table rewrite, no trigger fires) and swaps the keys;
SQLite rebuilds both tables (it cannot change a primary key in place) and recreates their
indexes and immutability triggers. The downgrade refuses a ledger that has posted on any
shard but 0 (their seqs would collide in one chain).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = 96
JOURNALS, ENTRIES, HEAD = "ledger_journals", "ledger_entries", "ledger_chain_head"
PARTIAL_INDEXES = (
    ("uq_ledger_journals_closes_hold", "closes_hold", True),
    ("uq_ledger_journals_reversal_of", "reversal_of", True),
    ("ix_ledger_journals_refers_to", "refers_to", False),
    ("ix_ledger_journals_pending", "expires_at", False),
)


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _journal_columns() -> list[sa.Column]:
    return [
        sa.Column("seq", sa.BigInteger, nullable=False),
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
    ]


def _entry_columns() -> list[sa.Column]:
    return [
        sa.Column("journal_seq", sa.BigInteger, nullable=False),
        sa.Column("leg", sa.Integer, nullable=False),
        sa.Column("ledger_account", sa.String(140), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
    ]


def _sqlite_triggers(table: str) -> None:
    for action in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                   "BEGIN SELECT RAISE(ABORT, 'ledger rows are immutable'); END")


def _sqlite_rebuild(sharded: bool) -> None:
    """Build both tables in the other shape under temporary names, copy, drop the old ones
    and rename. SQLite runs with foreign keys on and a migration in one transaction (the
    pragma cannot change there): the new entries reference the new journals, the old entries
    (the old journals' only children) are dropped before the old journals, and renaming the
    new journals rewrites the new entries' reference to the final name."""
    jcols, ecols = _journal_columns(), _entry_columns()
    names = [c.name for c in jcols]
    enames = [c.name for c in ecols]
    if sharded:
        op.create_table(f"{JOURNALS}_new", sa.Column("shard", sa.Integer, nullable=False),
                        *jcols, sa.PrimaryKeyConstraint("shard", "seq", name="pk_ledger_journals"))
        op.execute(f"INSERT INTO {JOURNALS}_new (shard, {', '.join(names)}) "
                   f"SELECT 0, {', '.join(names)} FROM {JOURNALS} ORDER BY seq")
        op.create_table(
            f"{ENTRIES}_new", sa.Column("journal_shard", sa.Integer, nullable=False), *ecols,
            sa.PrimaryKeyConstraint("journal_shard", "journal_seq", "leg",
                                    name="pk_ledger_entries"),
            sa.ForeignKeyConstraint(["journal_shard", "journal_seq"],
                                    [f"{JOURNALS}_new.shard", f"{JOURNALS}_new.seq"],
                                    name="fk_ledger_entries_journal"),
            sqlite_with_rowid=False)
        op.execute(f"INSERT INTO {ENTRIES}_new (journal_shard, {', '.join(enames)}) "
                   f"SELECT 0, {', '.join(enames)} FROM {ENTRIES} ORDER BY journal_seq, leg")
    else:
        jcols[0] = sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False)
        op.create_table(f"{JOURNALS}_new", *jcols)
        op.execute(f"INSERT INTO {JOURNALS}_new ({', '.join(names)}) "
                   f"SELECT {', '.join(names)} FROM {JOURNALS} ORDER BY seq")
        ecols[0] = sa.Column("journal_seq", sa.BigInteger,
                             sa.ForeignKey(f"{JOURNALS}_new.seq"), nullable=False)
        op.create_table(f"{ENTRIES}_new", *ecols,
                        sa.PrimaryKeyConstraint("journal_seq", "leg", name="pk_ledger_entries"),
                        sqlite_with_rowid=False)
        op.execute(f"INSERT INTO {ENTRIES}_new ({', '.join(enames)}) "
                   f"SELECT {', '.join(enames)} FROM {ENTRIES} ORDER BY journal_seq, leg")
    # Dropping a table drops its indexes and triggers; the implicit delete fires no trigger.
    op.drop_table(ENTRIES)
    op.drop_table(JOURNALS)
    op.rename_table(f"{JOURNALS}_new", JOURNALS)
    op.rename_table(f"{ENTRIES}_new", ENTRIES)
    for name, column, unique in PARTIAL_INDEXES:
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, JOURNALS, [column], unique=unique, sqlite_where=where)
    _sqlite_triggers(JOURNALS)
    _sqlite_triggers(ENTRIES)


def _postgres_names(table: str) -> tuple[str, list[str]]:
    """The primary key's name and the foreign keys' names of ``table`` as they are."""
    insp = sa.inspect(op.get_bind())
    return (insp.get_pk_constraint(table)["name"],
            [fk["name"] for fk in insp.get_foreign_keys(table)])


def _refuse_other_shards() -> None:
    others = op.get_bind().execute(sa.text(
        f"SELECT count(*) FROM {JOURNALS} WHERE shard <> 0")).scalar_one()
    if others:
        raise RuntimeError(f"cannot downgrade below 0004: {others} journals were posted on "
                           "shards other than 0 (their seqs would collide in one chain)")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild(sharded=True)
        op.execute(f"ALTER TABLE {HEAD} RENAME COLUMN id TO shard")
    else:
        journal_pk, _ = _postgres_names(JOURNALS)
        entry_pk, entry_fks = _postgres_names(ENTRIES)
        for fk in entry_fks:
            op.drop_constraint(fk, ENTRIES, type_="foreignkey")
        # A constant default: PostgreSQL stores it once instead of rewriting each row, so
        # neither a rewrite nor the immutability trigger runs. Then no default: every
        # writer names its shard.
        op.add_column(JOURNALS, sa.Column("shard", sa.Integer, nullable=False,
                                          server_default="0"))
        op.add_column(ENTRIES, sa.Column("journal_shard", sa.Integer, nullable=False,
                                         server_default="0"))
        op.alter_column(JOURNALS, "shard", server_default=None)
        op.alter_column(ENTRIES, "journal_shard", server_default=None)
        op.drop_constraint(journal_pk, JOURNALS, type_="primary")
        op.create_primary_key("pk_ledger_journals", JOURNALS, ["shard", "seq"])
        op.drop_constraint(entry_pk, ENTRIES, type_="primary")
        op.create_primary_key("pk_ledger_entries", ENTRIES,
                              ["journal_shard", "journal_seq", "leg"])
        op.create_foreign_key("fk_ledger_entries_journal", ENTRIES, JOURNALS,
                              ["journal_shard", "journal_seq"], ["shard", "seq"])
        op.alter_column(HEAD, "id", new_column_name="shard")
    op.execute(f"UPDATE {HEAD} SET shard = 0 WHERE shard = 1")  # the one chain: shard 0's


def downgrade() -> None:
    _refuse_other_shards()
    op.execute(f"DELETE FROM {HEAD} WHERE shard <> 0 AND seq = 0")  # heads of unused shards
    op.execute(f"UPDATE {HEAD} SET shard = 1 WHERE shard = 0")
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild(sharded=False)
        op.execute(f"ALTER TABLE {HEAD} RENAME COLUMN shard TO id")
        return
    op.drop_constraint("fk_ledger_entries_journal", ENTRIES, type_="foreignkey")
    op.drop_constraint("pk_ledger_entries", ENTRIES, type_="primary")
    op.drop_constraint("pk_ledger_journals", JOURNALS, type_="primary")
    op.drop_column(ENTRIES, "journal_shard")
    op.drop_column(JOURNALS, "shard")
    op.create_primary_key("ledger_journals_pkey", JOURNALS, ["seq"])
    op.create_primary_key("pk_ledger_entries", ENTRIES, ["journal_seq", "leg"])
    op.create_foreign_key("ledger_entries_journal_seq_fkey", ENTRIES, JOURNALS,
                          ["journal_seq"], ["seq"])
    op.alter_column(HEAD, "shard", new_column_name="id")
