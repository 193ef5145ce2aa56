"""customer_value.unconverted: booking amounts in currencies without an exchange rate, left out of the monetary value

Revision ID: profile_0003
Revises: profile_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "profile_0003"
down_revision = "profile_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customer_value") as batch:
        batch.add_column(sa.Column("unconverted", sa.JSON, nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    with op.batch_alter_table("customer_value") as batch:
        batch.drop_column("unconverted")
