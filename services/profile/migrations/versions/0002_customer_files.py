"""customer files, contacts, consents, booking history, product catalog, value, projections, care, erasure

Revision ID: profile_0002
Revises: profile_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "profile_0002"
down_revision = "profile_0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customer",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("origin", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("gender", sa.String(20)),
        sa.Column("birth_date", sa.Date),
        sa.Column("occupation", sa.String(200)),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("address", sa.JSON),
        sa.Column("preferred_channel", sa.String(20)),
        sa.Column("preferred_language", sa.String(20)),
        sa.Column("preferences", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("notes", sa.Text),
        sa.Column("merged_into", sa.String(100)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_customer_status", "customer", ["status"])
    op.create_index("ix_customer_birth_date", "customer", ["birth_date"])
    op.create_index("ix_customer_merged_into", "customer", ["merged_into"])

    op.create_table(
        "contact_point",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("value", sa.String(320), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.UniqueConstraint("customer_id", "kind", "value", name="uq_contact_point"),
    )
    op.create_index("ix_contact_point_customer_id", "contact_point", ["customer_id"])
    op.create_index("ix_contact_point_lookup", "contact_point", ["kind", "value"])

    op.create_table(
        "external_id",
        sa.Column("source", sa.String(50), primary_key=True),
        sa.Column("external_id", sa.String(200), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
    )
    op.create_index("ix_external_id_customer_id", "external_id", ["customer_id"])

    op.create_table(
        "consent",
        sa.Column("customer_id", sa.String(100), primary_key=True),
        sa.Column("channel", sa.String(20), primary_key=True),
        sa.Column("purpose", sa.String(20), primary_key=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("source", sa.String(100)),
        sa.Column("changed_at", TS, nullable=False),
    )
    op.create_table(
        "consent_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("source", sa.String(100)),
        sa.Column("changed_at", TS, nullable=False),
    )
    op.create_index("ix_consent_history_customer_id", "consent_history", ["customer_id"])

    op.create_table(
        "product",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("destination", sa.String(200)),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )

    op.create_table(
        "booking",
        sa.Column("booking_id", sa.String(100), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("product_id", sa.String(100), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("party_size", sa.Integer, nullable=False),
        sa.Column("travel_start", sa.Date),
        sa.Column("travel_end", sa.Date),
        sa.Column("completed_at", TS, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("cancelled_at", TS),
        sa.Column("cancel_reason", sa.String(500)),
        sa.Column("refunded_amount", sa.Numeric(14, 2)),
    )
    op.create_index("ix_booking_customer", "booking", ["customer_id", "completed_at"])
    op.create_index("ix_booking_product_id", "booking", ["product_id"])

    op.create_table(
        "customer_value",
        sa.Column("customer_id", sa.String(100), primary_key=True),
        sa.Column("frequency", sa.Integer, nullable=False),
        sa.Column("monetary", sa.Numeric(14, 2), nullable=False),
        sa.Column("first_booking_at", TS),
        sa.Column("last_booking_at", TS),
        sa.Column("recency_days", sa.Integer),
        sa.Column("rhythm_days", sa.Float),
        sa.Column("r_score", sa.Integer),
        sa.Column("f_score", sa.Integer),
        sa.Column("m_score", sa.Integer),
        sa.Column("lifetime_value", sa.Numeric(14, 2), nullable=False),
        sa.Column("repeat_status", sa.String(20)),
        sa.Column("loyalty_status", sa.String(20)),
        sa.Column("value_class", sa.String(20)),
        sa.Column("quadrant", sa.String(20)),
        sa.Column("churn_score", sa.Float, nullable=False),
        sa.Column("churn_reasons", sa.JSON, nullable=False),
        sa.Column("at_risk", sa.Boolean, nullable=False),
        sa.Column("at_risk_since", TS),
        sa.Column("computed_at", TS, nullable=False),
    )
    op.create_index("ix_customer_value_value_class", "customer_value", ["value_class"])
    op.create_index("ix_customer_value_at_risk", "customer_value", ["at_risk"])

    op.create_table(
        "membership_view",
        sa.Column("customer_id", sa.String(100), primary_key=True),
        sa.Column("tier", sa.String(20)),
        sa.Column("points_balance", sa.Integer, nullable=False),
        sa.Column("expiring_points", sa.Integer, nullable=False),
        sa.Column("expiring_on", sa.Date),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "complaint_view",
        sa.Column("complaint_id", sa.String(100), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("category", sa.String(100)),
        sa.Column("severity", sa.String(20)),
        sa.Column("sla_met", sa.Boolean),
        sa.Column("satisfied", sa.Boolean),
        sa.Column("filed_at", TS),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_complaint_view_customer_id", "complaint_view", ["customer_id"])
    op.create_table(
        "feedback_view",
        sa.Column("response_id", sa.String(100), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("nps", sa.Integer),
        sa.Column("csat", sa.Float),
        sa.Column("sentiment", sa.Float),
        sa.Column("detractor", sa.Boolean, nullable=False),
        sa.Column("submitted_at", TS, nullable=False),
    )
    op.create_index("ix_feedback_view_customer_id", "feedback_view", ["customer_id"])

    op.create_table(
        "merge_record",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("surviving_id", sa.String(100), nullable=False),
        sa.Column("merged_ids", sa.JSON, nullable=False),
        sa.Column("reason", sa.String(500)),
        sa.Column("merged_by", sa.String(100), nullable=False),
        sa.Column("merged_at", TS, nullable=False),
    )
    op.create_index("ix_merge_record_surviving_id", "merge_record", ["surviving_id"])

    op.create_table(
        "segment",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("match", sa.String(3), nullable=False),
        sa.Column("rules", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )

    op.create_table(
        "care_task",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("occasion", sa.String(100), nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("channel", sa.String(20)),
        sa.Column("note", sa.String(200)),
        sa.Column("emitted_at", TS),
        sa.UniqueConstraint("customer_id", "kind", "occasion", name="uq_care_task_occasion"),
    )
    op.create_index("ix_care_task_customer_id", "care_task", ["customer_id"])
    op.create_index("ix_care_task_due_at", "care_task", ["due_at"])
    op.create_index("ix_care_task_status", "care_task", ["status"])

    op.create_table(
        "erasure_request",
        sa.Column("request_id", sa.String(100), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("requested_by", sa.String(100), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("services", sa.JSON, nullable=False),
    )
    op.create_index("ix_erasure_request_customer_id", "erasure_request", ["customer_id"])
    op.create_table(
        "erasure_confirmation",
        sa.Column("request_id", sa.String(100), primary_key=True),
        sa.Column("service", sa.String(50), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("erased_at", TS, nullable=False),
    )
    op.create_table(
        "profile_config",
        sa.Column("key", sa.String(50), primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("profile_config", "erasure_confirmation", "erasure_request", "care_task", "segment", "merge_record",
                  "feedback_view", "complaint_view", "membership_view", "customer_value", "booking", "product",
                  "consent_history", "consent", "external_id", "contact_point", "customer"):
        op.drop_table(table)
