"""key accounts: organisations, their people and billing contacts, credit (charges, payments, rating and over-limit
history); stored segment memberships; the customer's acquisition source

Revision ID: profile_0005
Revises: profile_0004
"""

import sqlalchemy as sa
from alembic import op

revision = "profile_0005"
down_revision = "profile_0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
MONEY = sa.Numeric(14, 2)


def upgrade() -> None:
    with op.batch_alter_table("customer") as batch:
        batch.add_column(sa.Column("acquisition_source", sa.String(20)))
        batch.add_column(sa.Column("acquisition_detail", sa.String(200)))
    op.create_index("ix_customer_acquisition_source", "customer", ["acquisition_source"])
    with op.batch_alter_table("booking") as batch:  # a refund's own currency (it need not be the booking's)
        batch.add_column(sa.Column("refund_currency", sa.String(3)))

    op.create_table(
        "organisation",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("registration_number", sa.String(100), nullable=False, unique=True),
        sa.Column("industry", sa.String(100)),
        sa.Column("size", sa.String(20)),
        sa.Column("address", sa.JSON),
        sa.Column("account_owner", sa.String(100)),
        sa.Column("credit_limit", MONEY),
        sa.Column("credit_currency", sa.String(3)),
        sa.Column("payment_terms_days", sa.Integer, nullable=False),
        sa.Column("credit_rating", sa.String(5)),
        sa.Column("over_limit", sa.Boolean, nullable=False),
        sa.Column("over_limit_since", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_organisation_industry", "organisation", ["industry"])
    op.create_index("ix_organisation_account_owner", "organisation", ["account_owner"])
    op.create_index("ix_organisation_over_limit", "organisation", ["over_limit"])

    op.create_table(
        "organisation_contact",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("organisation_id", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("phone", sa.String(40)),
        sa.Column("email", sa.String(320)),
        sa.Column("role", sa.String(100)),
        sa.Column("customer_id", sa.String(100)),
    )
    op.create_index("ix_organisation_contact_organisation_id", "organisation_contact", ["organisation_id"])
    op.create_index("ix_organisation_contact_customer_id", "organisation_contact", ["customer_id"])

    op.create_table(
        "organisation_member",
        sa.Column("organisation_id", sa.String(100), primary_key=True),
        sa.Column("customer_id", sa.String(100), primary_key=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("linked_at", TS, nullable=False),
    )
    op.create_index("ix_organisation_member_customer_id", "organisation_member", ["customer_id"])

    op.create_table(
        "credit_charge",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("organisation_id", sa.String(100), nullable=False),
        sa.Column("booking_id", sa.String(100), nullable=False),
        sa.Column("customer_id", sa.String(100)),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("booked_on", sa.Date, nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("over_limit", sa.Boolean, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.UniqueConstraint("organisation_id", "booking_id", name="uq_credit_charge_booking"),
    )
    op.create_index("ix_credit_charge_due", "credit_charge", ["organisation_id", "due_on"])

    op.create_table(
        "credit_payment",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("organisation_id", sa.String(100), nullable=False),
        sa.Column("reference", sa.String(100), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("paid_on", sa.Date, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.UniqueConstraint("organisation_id", "reference", name="uq_credit_payment_reference"),
    )
    op.create_index("ix_credit_payment_organisation_id", "credit_payment", ["organisation_id"])

    op.create_table(
        "credit_rating_change",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("organisation_id", sa.String(100), nullable=False),
        sa.Column("old_rating", sa.String(5)),
        sa.Column("new_rating", sa.String(5), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("changed_by", sa.String(100), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
    )
    op.create_index("ix_credit_rating_change_organisation_id", "credit_rating_change", ["organisation_id"])

    op.create_table(
        "credit_flag_change",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("organisation_id", sa.String(100), nullable=False),
        sa.Column("over_limit", sa.Boolean, nullable=False),
        sa.Column("exposure", MONEY, nullable=False),
        sa.Column("credit_limit", MONEY, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("cause", sa.String(100), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
    )
    op.create_index("ix_credit_flag_change_organisation_id", "credit_flag_change", ["organisation_id"])

    op.create_table(
        "segment_membership",
        sa.Column("segment_id", sa.String(100), primary_key=True),
        sa.Column("customer_id", sa.String(100), primary_key=True),
        sa.Column("joined_at", TS, nullable=False),
    )
    op.create_index("ix_segment_membership_customer_id", "segment_membership", ["customer_id"])


def downgrade() -> None:
    for table in ("segment_membership", "credit_flag_change", "credit_rating_change", "credit_payment", "credit_charge",
                  "organisation_member", "organisation_contact", "organisation"):
        op.drop_table(table)
    with op.batch_alter_table("booking") as batch:
        batch.drop_column("refund_currency")
    op.drop_index("ix_customer_acquisition_source", "customer")
    with op.batch_alter_table("customer") as batch:
        batch.drop_column("acquisition_detail")
        batch.drop_column("acquisition_source")
