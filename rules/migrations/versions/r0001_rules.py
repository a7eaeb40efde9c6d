"""Rules: rules and their versions, backtests, named lists, the revision counter.

Spelled out here, frozen, rather than taken from ``rules.schema``: a later schema change comes
as a new revision.

Revision ID: r0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "r0001"
down_revision = None
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rules",
        sa.Column("rule_id", sa.String(32), primary_key=True),
        sa.Column("active_version", sa.Integer),
        sa.Column("updated_at", _utc(), nullable=False),
    )
    op.create_table(
        "rule_versions",
        sa.Column("rule_id", sa.String(32), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("condition", sa.Text, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
    )
    op.create_table(
        "rule_backtests",
        sa.Column("backtest_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rule_id", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("window_from", _utc(), nullable=False),
        sa.Column("window_to", _utc(), nullable=False),
        sa.Column("ran_by", sa.String(64), nullable=False),
        sa.Column("ran_at", _utc(), nullable=False),
        sa.Column("result", sa.Text, nullable=False),
    )
    op.create_index("rule_backtests_by_version", "rule_backtests", ["rule_id", "version"])
    op.create_table(
        "rule_lists",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
    )
    op.create_table(
        "rule_list_items",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(256), primary_key=True),
    )
    op.create_table(
        "rules_revision",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(sa.table("rules_revision", sa.column("id", sa.Integer),
                            sa.column("revision", sa.BigInteger)), [{"id": 1, "revision": 0}])


def downgrade() -> None:
    for table in ("rules_revision", "rule_list_items", "rule_lists", "rule_backtests",
                  "rule_versions", "rules"):
        op.drop_table(table)
