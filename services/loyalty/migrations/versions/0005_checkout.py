"""loyalty: known customers and organisations (copies of profile's), enterprise members' organisation,
free upgrades used at checkout, member events and their registrations

Revision ID: loyalty_0005_checkout
Revises: loyalty_0004_campaign_uplift
"""

import sqlalchemy as sa
from alembic import op

revision = "loyalty_0005_checkout"
down_revision = "loyalty_0004_campaign_uplift"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "loyalty_customer",
        sa.Column("customer_id", sa.String(100), primary_key=True),
        sa.Column("known_since", TS, nullable=False),
    )
    op.create_table(
        "loyalty_organisation",
        sa.Column("organisation_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("industry", sa.String(100), nullable=True),
        sa.Column("registered_at", TS, nullable=False),
    )
    op.add_column("loyalty_member", sa.Column("organisation_id", sa.String(64), nullable=True))
    op.create_index("ix_loyalty_member_organisation_id", "loyalty_member", ["organisation_id"])
    op.create_table(
        "loyalty_upgrade",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("booking_id", sa.String(100), nullable=False, unique=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("used_by", sa.String(100), nullable=False),
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("used_at", TS, nullable=False),
    )
    op.create_index("ix_loyalty_upgrade_customer_id_year", "loyalty_upgrade", ["customer_id", "year"])
    op.create_table(
        "loyalty_member_event",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("held_on", sa.Date, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("registered", sa.Integer, nullable=False),
        sa.Column("tiers", sa.Text, nullable=False),
        sa.Column("attendance_points", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_loyalty_member_event_held_on", "loyalty_member_event", ["held_on"])
    op.create_table(
        "loyalty_event_registration",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("registered_at", TS, nullable=False),
        sa.Column("attended_at", TS, nullable=True),
        sa.UniqueConstraint("event_id", "customer_id", name="uq_loyalty_event_registration"),
    )
    op.create_index("ix_loyalty_event_registration_customer_id", "loyalty_event_registration", ["customer_id"])


def downgrade() -> None:
    op.drop_table("loyalty_event_registration")
    op.drop_table("loyalty_member_event")
    op.drop_table("loyalty_upgrade")
    op.drop_index("ix_loyalty_member_organisation_id", "loyalty_member")
    op.drop_column("loyalty_member", "organisation_id")
    op.drop_table("loyalty_organisation")
    op.drop_table("loyalty_customer")
