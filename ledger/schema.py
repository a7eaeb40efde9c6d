"""Ledger tables (created and migrated by Alembic: ``ledger/migrations``).

Journals and entries are immutable (database triggers refuse UPDATE and DELETE); every journal
carries its ``shard``, its ``seq`` within that shard and a SHA-256 ``hash`` chained to the
previous journal of the same shard (one chain and one head row per shard). ``ledger_balances``
is a cache of per-account, per-currency sums of entries that ``flowlet ledger verify`` proves
equal to the entries.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
)

from core.db import UTCDateTime

ID = 96  # client ids are at most 64; ledger-made ids add a prefix ("hold-expiry:", "reversal:")
metadata = MetaData()

# Keyed by (shard, seq) since revision 0004: each shard numbers its own chain from 1.
journals = Table(
    "ledger_journals",
    metadata,
    Column("shard", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("transaction_id", String(ID), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # event | expiry | reversal
    Column("event_type", String(32), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("posted_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # posted | rejected
    Column("reason", String(300)),
    Column("refers_to", String(ID)),
    Column("closes_hold", String(ID)),  # unique: a hold is released exactly once
    Column("reversal_of", String(ID)),  # unique: a journal is reversed at most once
    Column("expires_at", UTCDateTime),  # authorizations: when the hold lapses
    Column("fx_rate", String(64)),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    PrimaryKeyConstraint("shard", "seq", name="pk_ledger_journals"),
)
# Partial indexes: most journals leave these columns empty, and indexing only the rows that
# set them spares every plain posting four index inserts (the hot path is index-bound).
for _name, _col, _unique in (
    ("uq_ledger_journals_closes_hold", journals.c.closes_hold, True),
    ("uq_ledger_journals_reversal_of", journals.c.reversal_of, True),
    ("ix_ledger_journals_refers_to", journals.c.refers_to, False),
    ("ix_ledger_journals_pending", journals.c.expires_at, False),
):
    Index(_name, _col, unique=_unique, sqlite_where=_col.is_not(None),
          postgresql_where=_col.is_not(None))

# Keyed by (journal_seq, leg) since revision 0002, by (journal_shard, journal_seq, leg) since
# 0004: keys that only grow (per shard), so an insert appends,
# instead of a surrogate id plus a unique index on random transaction ids. WITHOUT ROWID on
# SQLite: the rows live in that key. Since revision 0003 no copy of the journal's
# transaction_id (join the journal on seq) and no index by account: every index here costs
# each posted leg a random B-tree insert, and no query needs one (balances come from
# ledger_balances; verify and the trial balance scan).
entries = Table(
    "ledger_entries",
    metadata,
    Column("journal_shard", Integer, nullable=False),
    Column("journal_seq", BigInteger, nullable=False),
    Column("leg", Integer, nullable=False),
    Column("ledger_account", String(140), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    PrimaryKeyConstraint("journal_shard", "journal_seq", "leg", name="pk_ledger_entries"),
    ForeignKeyConstraint(["journal_shard", "journal_seq"],
                         ["ledger_journals.shard", "ledger_journals.seq"],
                         name="fk_ledger_entries_journal"),
    sqlite_with_rowid=False,
)

balances = Table(
    "ledger_balances",
    metadata,
    Column("ledger_account", String(140), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("balance", BigInteger, nullable=False),
)

# One row per shard (created by the shard's first batch); before revision 0004 one row, id 1,
# which became shard 0.
chain_head = Table(
    "ledger_chain_head",
    metadata,
    Column("shard", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

fx_rates = Table(
    "ledger_fx_rates",
    metadata,
    Column("base", String(3), primary_key=True),
    Column("quote", String(3), primary_key=True),
    Column("as_of", UTCDateTime, primary_key=True),
    Column("rate", String(64), nullable=False),  # decimal text: exact, no binary float
    Column("source", String(64), nullable=False),
)
