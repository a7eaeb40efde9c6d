"""Workbench: users, alerts and hits, cases, notes, the audit chain.

Spelled out here, frozen, rather than taken from ``cases.schema``: a later schema change comes
as a new revision.

Revision ID: c0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "c0001"
down_revision = None
branch_labels = None
depends_on = None

ID = 128


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(ID), primary_key=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("source_version", sa.String(ID), nullable=False),
        sa.Column("entity_type", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(ID), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("score_max", sa.Float, nullable=False),
        sa.Column("hits", sa.Integer, nullable=False),
        sa.Column("amount_minor_max", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason_codes", sa.Text, nullable=False),
        sa.Column("first_seen", _utc(), nullable=False),
        sa.Column("last_seen", _utc(), nullable=False),
        sa.Column("case_id", sa.String(ID), nullable=False),
        sa.Column("decision", sa.String(32)),
        sa.Column("closed_at", _utc()),
    )
    op.create_index("alerts_one_open", "alerts", ["entity_type", "entity_id", "source"],
                    unique=True, sqlite_where=sa.text("status = 'open'"),
                    postgresql_where=sa.text("status = 'open'"))
    op.create_index("alerts_by_case", "alerts", ["case_id"])
    op.create_index("alerts_by_status_priority", "alerts", ["status", "priority"])
    op.create_table(
        "alert_hits",
        sa.Column("transaction_id", sa.String(ID), primary_key=True),
        sa.Column("source", sa.String(32), primary_key=True),
        sa.Column("alert_id", sa.String(ID)),
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("merchant_id", sa.String(ID)),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("occurred_at", _utc(), nullable=False),
        sa.Column("reason_codes", sa.Text, nullable=False),
    )
    op.create_index("alert_hits_by_alert", "alert_hits", ["alert_id"])
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(ID), primary_key=True),
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(64)),
        sa.Column("opened_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("decided_at", _utc()),
        sa.Column("decision", sa.String(32)),
    )
    op.create_index("cases_one_active", "cases", ["account_id"], unique=True,
                    sqlite_where=sa.text("state <> 'decided'"),
                    postgresql_where=sa.text("state <> 'decided'"))
    op.create_index("cases_by_state", "cases", ["state"])
    op.create_table(
        "case_notes",
        sa.Column("note_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(ID), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_case_notes_case_id", "case_notes", ["case_id"])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("object_type", sa.String(16), nullable=False),
        sa.Column("object_id", sa.String(ID), nullable=False),
        sa.Column("before", sa.Text, nullable=False),
        sa.Column("after", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_log", "case_notes", "cases", "alert_hits", "alerts", "users"):
        op.drop_table(table)
