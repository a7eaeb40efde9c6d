"""Customers: applied profile events, latest profiles, risk ratings.

Spelled out here, frozen, rather than taken from ``customers.schema``.

Revision ID: k0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "k0001"
down_revision = None
branch_labels = None
depends_on = None

ID = 128


def upgrade() -> None:
    op.create_table(
        "customer_events",
        sa.Column("event_id", sa.String(ID), primary_key=True),
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "customer_profiles",
        sa.Column("account_id", sa.String(ID), primary_key=True),
        sa.Column("customer_id", sa.String(ID), nullable=False),
        sa.Column("event_id", sa.String(ID), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("customer_type", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("pep", sa.Boolean, nullable=False),
        sa.Column("income_minor", sa.BigInteger),
        sa.Column("income_currency", sa.String(3)),
        sa.Column("occupation", sa.String(200)),
        sa.Column("business", sa.String(200)),
        sa.Column("onboarded_on", sa.Date, nullable=False),
    )
    op.create_table(
        "customer_risk",
        sa.Column("account_id", sa.String(ID), primary_key=True),
        sa.Column("band", sa.String(8), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("profile_version", sa.Integer, nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("customer_risk")
    op.drop_table("customer_profiles")
    op.drop_table("customer_events")
