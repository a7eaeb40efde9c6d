"""Screening: list loads and the current list's entries.

Spelled out here, frozen, rather than taken from ``screening.schema``.

Revision ID: s0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "s0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "screening_lists",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("entries", sa.Integer, nullable=False),
    )
    op.create_table(
        "screening_entries",
        sa.Column("entry_id", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("schema", sa.String(64), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("aliases", sa.Text, nullable=False),
        sa.Column("birth_dates", sa.Text, nullable=False),
        sa.Column("countries", sa.Text, nullable=False),
        sa.Column("dataset", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("screening_entries")
    op.drop_table("screening_lists")
