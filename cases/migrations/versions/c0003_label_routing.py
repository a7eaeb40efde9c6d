"""Hits keep their transaction's device and P2P payee, so a decision's labels name them and the
delayed-label features of the device and the payee count the label (as the merchant's do).

Nullable: a hit without a device or of a non-P2P transaction has none; older rows stay as they
are (their labels reach the merchant only).

Revision ID: c0003
Revises: c0002
"""

import sqlalchemy as sa
from alembic import op

revision = "c0003"
down_revision = "c0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert_hits") as batch:
        batch.add_column(sa.Column("device_id", sa.String(128)))
        batch.add_column(sa.Column("counterparty_account_id", sa.String(128)))


def downgrade() -> None:
    with op.batch_alter_table("alert_hits") as batch:
        batch.drop_column("counterparty_account_id")
        batch.drop_column("device_id")
