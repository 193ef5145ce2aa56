"""Incremental nightly values: customer_value.review_on (the day time alone next changes a row), value_dirty (the
customers whose inputs changed since the last run) and value_run (the last run and its scoring version)

Revision ID: profile_0008_incremental
Revises: profile_0007_dlaudit
"""

import sqlalchemy as sa
from alembic import op

revision = "profile_0008_incremental"
down_revision = "profile_0007_dlaudit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customer_value") as batch:
        batch.add_column(sa.Column("review_on", sa.Date, nullable=True))
    op.create_index("ix_customer_value_review_on", "customer_value", ["review_on"])
    op.create_table(
        "value_dirty",
        sa.Column("customer_id", sa.String(100), primary_key=True),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "value_run",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("value_run")
    op.drop_table("value_dirty")
    op.drop_index("ix_customer_value_review_on", table_name="customer_value")
    with op.batch_alter_table("customer_value") as batch:
        batch.drop_column("review_on")
