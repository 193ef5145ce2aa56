"""complaints: policy versions (SLA targets, business calendar, crisis threshold, agent limits)

Revision ID: complaints_0004
Revises: complaints_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "complaints_0004"
down_revision = "complaints_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "complaint_policy",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )


def downgrade() -> None:
    op.drop_table("complaint_policy")
