"""contact history, the care work queue, leads, lapse reasons and at-risk episodes (issue 12)

Revision ID: profile_0006
Revises: profile_0005
"""

import sqlalchemy as sa
from alembic import op

revision = "profile_0006"
down_revision = "profile_0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
CARE_COLUMNS = (
    sa.Column("assignee", sa.String(100)),
    sa.Column("snoozed_until", TS),
    sa.Column("staff_note", sa.String(1000)),
    sa.Column("offer_id", sa.String(100)),
    sa.Column("offer_expires_at", TS),
    sa.Column("completed_at", TS),
    sa.Column("contact_id", sa.String(100)),
)


def upgrade() -> None:
    with op.batch_alter_table("care_task") as batch:
        batch.alter_column("kind", existing_type=sa.String(20), type_=sa.String(30), existing_nullable=False)
        for column in CARE_COLUMNS:
            batch.add_column(column.copy())
    op.create_index("ix_care_task_assignee", "care_task", ["assignee"])

    op.create_table(
        "contact_record",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("summary", sa.Text),
        sa.Column("outcome", sa.String(500)),
        sa.Column("next_step", sa.String(500)),
        sa.Column("next_step_at", TS),
        sa.Column("staff", sa.String(100), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("care_task_id", sa.String(100), unique=True),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
    )
    op.create_index("ix_contact_record_customer", "contact_record", ["customer_id", "occurred_at"])

    op.create_table(
        "lead",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("contact_id", sa.String(100)),
        sa.Column("interest", sa.String(300), nullable=False),
        sa.Column("destination", sa.String(200)),
        sa.Column("product_id", sa.String(100)),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("lost_reason", sa.String(500)),
        sa.Column("booking_id", sa.String(100)),
        sa.Column("opened_by", sa.String(100), nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("closed_at", TS),
    )
    op.create_index("ix_lead_customer_id", "lead", ["customer_id"])
    op.create_index("ix_lead_source", "lead", ["source"])
    op.create_index("ix_lead_status", "lead", ["status"])

    op.create_table(
        "lapse_reason",
        sa.Column("customer_id", sa.String(100), primary_key=True),
        sa.Column("cause", sa.String(40), nullable=False),
        sa.Column("note", sa.String(1000)),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("set_by", sa.String(100), nullable=False),
        sa.Column("set_at", TS, nullable=False),
    )

    op.create_table(
        "at_risk_episode",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("marked_at", TS, nullable=False),
        sa.Column("ended_at", TS),
        sa.Column("ended_by", sa.String(20)),
    )
    op.create_index("ix_at_risk_episode_customer_id", "at_risk_episode", ["customer_id"])
    op.create_index("ix_at_risk_episode_marked_at", "at_risk_episode", ["marked_at"])


def downgrade() -> None:
    for table in ("at_risk_episode", "lapse_reason", "lead", "contact_record"):
        op.drop_table(table)
    op.drop_index("ix_care_task_assignee", "care_task")
    with op.batch_alter_table("care_task") as batch:
        for column in CARE_COLUMNS:
            batch.drop_column(column.name)
        batch.alter_column("kind", existing_type=sa.String(30), type_=sa.String(20), existing_nullable=False)
