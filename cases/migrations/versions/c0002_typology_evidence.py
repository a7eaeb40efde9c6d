"""Typology alerts: the typology on alerts and hits, the evidence on hits.

Nullable: the model's and rules' alerts have no typology; older rows stay as they are.

Revision ID: c0002
Revises: c0001
"""

import sqlalchemy as sa
from alembic import op

revision = "c0002"
down_revision = "c0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("typology", sa.String(64)))
    with op.batch_alter_table("alert_hits") as batch:
        batch.add_column(sa.Column("typology", sa.String(64)))
        batch.add_column(sa.Column("evidence", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("alert_hits") as batch:
        batch.drop_column("evidence")
        batch.drop_column("typology")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("typology")
