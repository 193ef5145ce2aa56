"""sample tables and the core tables

Revision ID: sample_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from shared.migrations import create_core_tables

revision = "sample_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_core_tables()
    op.create_table(
        "sample_order",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
    )
    op.create_table(
        "sample_effect",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("booking_id", sa.String(100), nullable=False),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
    )
    op.create_table("sample_gate", sa.Column("product_id", sa.String(100), primary_key=True))


def downgrade() -> None:
    raise NotImplementedError
