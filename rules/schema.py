"""The rules' tables, in the workbench's database (``settings.database_url``).

Created and upgraded by Alembic (``rules/migrations``, version table ``rules_alembic_version``);
the audit entries go to the workbench's hash-chained ``audit_log`` (``cases.audit``).

* ``rules`` — one row per rule id: which version is active (NULL: none);
* ``rule_versions`` — immutable versions; a version is a *draft* until activated;
* ``rule_backtests`` — each backtest run of a version, its figures as JSON; activation needs one
  of the very version it activates;
* ``rule_lists`` / ``rule_list_items`` — named allow/deny lists (``in list("name")``);
* ``rules_revision`` — one counter, bumped by every change that alters what the stream
  evaluates (activation, deactivation, a list's values): workers poll it to reload.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

from core.db import UTCDateTime

metadata = MetaData()

rules = Table(
    "rules", metadata,
    Column("rule_id", String(32), primary_key=True),
    Column("active_version", Integer),
    Column("updated_at", UTCDateTime, nullable=False),
)

rule_versions = Table(
    "rule_versions", metadata,
    Column("rule_id", String(32), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("condition", Text, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("action", String(16), nullable=False),
    Column("description", Text, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

rule_backtests = Table(
    "rule_backtests", metadata,
    Column("backtest_id", Integer, primary_key=True, autoincrement=True),
    Column("rule_id", String(32), nullable=False),
    Column("version", Integer, nullable=False),
    Column("window_from", UTCDateTime, nullable=False),
    Column("window_to", UTCDateTime, nullable=False),
    Column("ran_by", String(64), nullable=False),
    Column("ran_at", UTCDateTime, nullable=False),
    Column("result", Text, nullable=False),  # JSON
    Index("rule_backtests_by_version", "rule_id", "version"),
)

rule_lists = Table(
    "rule_lists", metadata,
    Column("name", String(64), primary_key=True),
    Column("description", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

rule_list_items = Table(
    "rule_list_items", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(256), primary_key=True),
)

rules_revision = Table(
    "rules_revision", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("revision", BigInteger, nullable=False),
)
