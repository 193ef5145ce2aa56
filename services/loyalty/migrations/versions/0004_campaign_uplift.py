"""loyalty: campaigns aimed at profile segments with a control group — the segment copy, the campaign groups,
the campaign's segment / control % / end time, and each booking's product kind (margin per kind)

Revision ID: loyalty_0004_campaign_uplift
Revises: loyalty_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "loyalty_0004_campaign_uplift"
down_revision = "loyalty_0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "loyalty_segment_member",
        sa.Column("segment_id", sa.String(100), primary_key=True),
        sa.Column("customer_id", sa.String(100), primary_key=True),
        sa.Column("segment", sa.String(200), nullable=False),
        sa.Column("member", sa.Boolean, nullable=False),
        sa.Column("changed_at", TS, nullable=False),
    )
    op.create_index("ix_loyalty_segment_member_customer_id", "loyalty_segment_member", ["customer_id"])
    op.create_table(
        "loyalty_campaign_group",
        sa.Column("campaign_id", sa.String(100), primary_key=True),
        sa.Column("customer_id", sa.String(100), primary_key=True),
        sa.Column("grp", sa.String(10), nullable=False),
        sa.Column("assigned_at", TS, nullable=False),
    )
    op.create_index("ix_loyalty_campaign_group_customer_id", "loyalty_campaign_group", ["customer_id"])
    op.add_column("loyalty_campaign", sa.Column("segment_id", sa.String(100), nullable=True))
    op.add_column("loyalty_campaign", sa.Column("control_pct", sa.Numeric(5, 2), nullable=True))
    op.add_column("loyalty_campaign", sa.Column("ended_at", TS, nullable=True))
    op.add_column("loyalty_booking", sa.Column("product_kind", sa.String(50), nullable=True))
    op.create_index("ix_loyalty_booking_traveller_id", "loyalty_booking", ["traveller_id"])
    op.create_index("ix_loyalty_entry_created_at", "loyalty_entry", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_loyalty_entry_created_at", "loyalty_entry")
    op.drop_index("ix_loyalty_booking_traveller_id", "loyalty_booking")
    op.drop_column("loyalty_booking", "product_kind")
    op.drop_column("loyalty_campaign", "ended_at")
    op.drop_column("loyalty_campaign", "control_pct")
    op.drop_column("loyalty_campaign", "segment_id")
    op.drop_index("ix_loyalty_campaign_group_customer_id", "loyalty_campaign_group")
    op.drop_table("loyalty_campaign_group")
    op.drop_index("ix_loyalty_segment_member_customer_id", "loyalty_segment_member")
    op.drop_table("loyalty_segment_member")
