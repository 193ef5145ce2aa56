"""complaints: incident records

Revision ID: complaints_0003
Revises: complaints_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "complaints_0003"
down_revision = "complaints_0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "complaint_incident",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("complaint_id", sa.String(length=36), nullable=True),
        sa.Column("booking_id", sa.String(length=100), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("location", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("supplier", sa.String(length=200), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("checklist", sa.Text(), nullable=False),
        sa.Column("insurance", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_complaint_incident_customer_id"), "complaint_incident", ["customer_id"], unique=False)
    op.create_index(op.f("ix_complaint_incident_complaint_id"), "complaint_incident", ["complaint_id"], unique=False)


def downgrade() -> None:
    op.drop_table("complaint_incident")
