"""loyalty: programme, members, ledger and lots, bookings, redemptions, rewards, campaigns, referrals, offers, notices

Revision ID: loyalty_0002
Revises: loyalty_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "loyalty_0002"
down_revision = "loyalty_0001"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "loyalty_programme",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "loyalty_member",
        sa.Column("customer_id", sa.String(100), primary_key=True),
        sa.Column("member_type", sa.String(20), nullable=False),
        sa.Column("account_id", sa.String(100), nullable=True),
        sa.Column("points_to", sa.String(20), nullable=False),
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("tier_since", TS, nullable=False),
        sa.Column("tier_override", sa.String(20), nullable=True),
        sa.Column("tier_override_until", sa.Date, nullable=True),
        sa.Column("next_review_on", sa.Date, nullable=False),
        sa.Column("balance", sa.Integer, nullable=False),
        sa.Column("debt", sa.Integer, nullable=False),
        sa.Column("segments", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("merged_into", sa.String(100), nullable=True),
        sa.Column("enrolled_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_loyalty_member_account_id", "loyalty_member", ["account_id"])
    op.create_index("ix_loyalty_member_next_review_on", "loyalty_member", ["next_review_on"])
    op.create_table(
        "loyalty_entry",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("earned_by", sa.String(100), nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("cause_type", sa.String(30), nullable=False),
        sa.Column("cause_id", sa.String(200), nullable=True),
        sa.Column("business_key", sa.String(250), nullable=True, unique=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("actor", sa.String(100), nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_loyalty_entry_customer_id_id", "loyalty_entry", ["customer_id", "id"])
    op.create_index("ix_loyalty_entry_cause_id", "loyalty_entry", ["cause_id"])
    op.create_table(
        "loyalty_lot",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("entry_id", sa.BigInteger, nullable=False),
        sa.Column("booking_id", sa.String(100), nullable=True),
        sa.Column("earned_at", TS, nullable=False),
        sa.Column("expires_on", sa.Date, nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("remaining", sa.Integer, nullable=False),
        sa.Column("expired", sa.Integer, nullable=False),
    )
    op.create_index("ix_loyalty_lot_customer_id_earned_at", "loyalty_lot", ["customer_id", "earned_at"])
    op.create_index("ix_loyalty_lot_expires_on", "loyalty_lot", ["expires_on"])
    op.create_table(
        "loyalty_booking",
        sa.Column("booking_id", sa.String(100), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("traveller_id", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("spend", sa.Numeric(14, 2), nullable=False),
        sa.Column("earned", sa.Integer, nullable=False),
        sa.Column("qualifying", sa.Integer, nullable=False),
        sa.Column("completed_at", TS, nullable=True),
        sa.Column("cancelled_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_loyalty_booking_customer_id", "loyalty_booking", ["customer_id"])
    op.create_table(
        "loyalty_redemption",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("reward_id", sa.String(100), nullable=True),
        sa.Column("booking_id", sa.String(100), nullable=True),
        sa.Column("cash_value", sa.Numeric(14, 2), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("settled_at", TS, nullable=True),
        sa.Column("entry_id", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_loyalty_redemption_customer_id", "loyalty_redemption", ["customer_id"])
    op.create_index("ix_loyalty_redemption_status", "loyalty_redemption", ["status"])
    op.create_table(
        "loyalty_reward",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("stock", sa.Integer, nullable=True),
        sa.Column("per_member_limit", sa.Integer, nullable=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "loyalty_campaign",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("multiplier", sa.Numeric(6, 2), nullable=True),
        sa.Column("bonus_points", sa.Integer, nullable=True),
        sa.Column("tiers", sa.Text, nullable=False),
        sa.Column("segments", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("destinations", sa.Text, nullable=False),
        sa.Column("starts_on", sa.Date, nullable=True),
        sa.Column("ends_on", sa.Date, nullable=True),
        sa.Column("budget", sa.Integer, nullable=True),
        sa.Column("issued", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "loyalty_campaign_award",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("campaign_id", sa.String(100), nullable=False),
        sa.Column("booking_id", sa.String(100), nullable=False),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("revenue", sa.Numeric(14, 2), nullable=False),
        sa.Column("reversed", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("campaign_id", "booking_id", name="uq_loyalty_campaign_award_booking"),
    )
    op.create_index("ix_loyalty_campaign_award_customer_id", "loyalty_campaign_award", ["customer_id"])
    op.create_table(
        "loyalty_referral_code",
        sa.Column("code", sa.String(20), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "loyalty_referral",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("referee_id", sa.String(100), nullable=False, unique=True),
        sa.Column("code", sa.String(20), nullable=False),
        sa.Column("referrer_id", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("booking_id", sa.String(100), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("awarded_at", TS, nullable=True),
    )
    op.create_index("ix_loyalty_referral_referrer_id", "loyalty_referral", ["referrer_id"])
    op.create_table(
        "loyalty_offer",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("booking_id", sa.String(100), nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_loyalty_offer_customer_id", "loyalty_offer", ["customer_id"])
    op.create_table(
        "loyalty_notice",
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_loyalty_notice_customer_id", "loyalty_notice", ["customer_id"])


def downgrade() -> None:
    for table in ("loyalty_notice", "loyalty_offer", "loyalty_referral", "loyalty_referral_code",
                  "loyalty_campaign_award", "loyalty_campaign", "loyalty_reward", "loyalty_redemption",
                  "loyalty_booking", "loyalty_lot", "loyalty_entry", "loyalty_member", "loyalty_programme"):
        op.drop_table(table)
