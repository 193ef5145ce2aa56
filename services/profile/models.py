"""Tables of the profile service: customer files and what hangs off them, and the projections of others' events."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from sqlalchemy import JSON, Boolean, Column, Date, Float, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import utc_column, utcnow


class Customer(SQLModel, table=True):
    """The customer file (客户档案). Personal fields are nulled on erasure; the id stays as a pseudonym."""

    __tablename__ = "customer"
    id: str = Field(sa_column=Column(String(100), primary_key=True))
    status: str = Field(default="active", sa_column=Column(String(20), nullable=False, index=True))  # active|merged|erased
    origin: str = Field(default="api", sa_column=Column(String(20), nullable=False))  # api|booking|import
    name: str | None = Field(default=None, sa_column=Column(String(200)))
    gender: str | None = Field(default=None, sa_column=Column(String(20)))
    birth_date: date | None = Field(default=None, sa_column=Column(Date, index=True))
    occupation: str | None = Field(default=None, sa_column=Column(String(200)))
    kind: str = Field(default="individual", sa_column=Column(String(20), nullable=False))
    address: dict | None = Field(default=None, sa_column=Column(JSON))
    preferred_channel: str | None = Field(default=None, sa_column=Column(String(20)))
    preferred_language: str | None = Field(default=None, sa_column=Column(String(20)))
    preferences: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    tags: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    notes: str | None = Field(default=None, sa_column=Column(Text))
    # how the customer came (referral, advertising, ota, walk-in, partner-agency, franchise-store, event) and which one
    acquisition_source: str | None = Field(default=None, sa_column=Column(String(20), index=True))
    acquisition_detail: str | None = Field(default=None, sa_column=Column(String(200)))
    merged_into: str | None = Field(default=None, sa_column=Column(String(100), index=True))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class ContactPoint(SQLModel, table=True):
    """A normalised phone (E.164) or email (case-folded) of a customer."""

    __tablename__ = "contact_point"
    __table_args__ = (
        UniqueConstraint("customer_id", "kind", "value", name="uq_contact_point"),
        Index("ix_contact_point_lookup", "kind", "value"),
    )
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    kind: str = Field(sa_column=Column(String(10), nullable=False))  # phone|email
    value: str = Field(sa_column=Column(String(320), nullable=False))
    position: int = Field(default=0, sa_column=Column(Integer, nullable=False))


class ExternalId(SQLModel, table=True):
    """The customer's id in a source system (booking site, app, call centre, store …)."""

    __tablename__ = "external_id"
    source: str = Field(sa_column=Column(String(50), primary_key=True))
    external_id: str = Field(sa_column=Column(String(200), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))


class Consent(SQLModel, table=True):
    """Current consent per channel and purpose."""

    __tablename__ = "consent"
    customer_id: str = Field(sa_column=Column(String(100), primary_key=True))
    channel: str = Field(sa_column=Column(String(20), primary_key=True))
    purpose: str = Field(sa_column=Column(String(20), primary_key=True))
    status: str = Field(sa_column=Column(String(10), nullable=False))
    source: str | None = Field(default=None, sa_column=Column(String(100)))
    changed_at: datetime = Field(sa_column=utc_column())


class ConsentHistory(SQLModel, table=True):
    __tablename__ = "consent_history"
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    channel: str = Field(sa_column=Column(String(20), nullable=False))
    purpose: str = Field(sa_column=Column(String(20), nullable=False))
    status: str = Field(sa_column=Column(String(10), nullable=False))
    source: str | None = Field(default=None, sa_column=Column(String(100)))
    changed_at: datetime = Field(sa_column=utc_column())


class Product(SQLModel, table=True):
    """Product catalog projection, from the products named in booking events."""

    __tablename__ = "product"
    id: str = Field(sa_column=Column(String(100), primary_key=True))
    name: str = Field(sa_column=Column(String(300), nullable=False))
    kind: str = Field(sa_column=Column(String(50), nullable=False))
    destination: str | None = Field(default=None, sa_column=Column(String(200)))
    tags: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    buyers: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0", index=True),
                        description="customers who completed a booking of it; refreshed by jobs.refresh_popularity")


class Booking(SQLModel, table=True):
    """Booking history projection; one row per booking id however often its events arrive."""

    __tablename__ = "booking"
    __table_args__ = (Index("ix_booking_customer", "customer_id", "completed_at"),)
    booking_id: str = Field(sa_column=Column(String(100), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False))
    channel: str = Field(sa_column=Column(String(20), nullable=False))
    product_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    amount: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    party_size: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    travel_start: date | None = Field(default=None, sa_column=Column(Date))
    travel_end: date | None = Field(default=None, sa_column=Column(Date))
    completed_at: datetime = Field(sa_column=utc_column())
    status: str = Field(default="completed", sa_column=Column(String(20), nullable=False))  # completed|cancelled
    cancelled_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    cancel_reason: str | None = Field(default=None, sa_column=Column(String(500)))
    refunded_amount: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 2)))
    refund_currency: str | None = Field(default=None, sa_column=Column(String(3)))  # the refund's, not the booking's


class CustomerValue(SQLModel, table=True):
    """RFM, value class, quadrant and churn risk of a customer (recomputed on events and nightly)."""

    __tablename__ = "customer_value"
    customer_id: str = Field(sa_column=Column(String(100), primary_key=True))
    frequency: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    monetary: Decimal = Field(default=Decimal("0"), sa_column=Column(Numeric(14, 2), nullable=False))
    first_booking_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_booking_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    recency_days: int | None = Field(default=None, sa_column=Column(Integer))
    rhythm_days: float | None = Field(default=None, sa_column=Column(Float))
    r_score: int | None = Field(default=None, sa_column=Column(Integer))
    f_score: int | None = Field(default=None, sa_column=Column(Integer))
    m_score: int | None = Field(default=None, sa_column=Column(Integer))
    lifetime_value: Decimal = Field(default=Decimal("0"), sa_column=Column(Numeric(14, 2), nullable=False))
    repeat_status: str | None = Field(default=None, sa_column=Column(String(20)))
    loyalty_status: str | None = Field(default=None, sa_column=Column(String(20)))
    value_class: str | None = Field(default=None, sa_column=Column(String(20), index=True))
    quadrant: str | None = Field(default=None, sa_column=Column(String(20)))
    churn_score: float = Field(default=0.0, sa_column=Column(Float, nullable=False))
    churn_reasons: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    at_risk: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, index=True))
    at_risk_since: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    computed_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    # booking amounts left out of `monetary` (no exchange rate to the business currency): currency -> amount
    unconverted: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # the business day on which the passage of time alone next changes this row's loyalty status, churn reasons or
    # at-risk mark (value_review.py); the nightly run recomputes the rows due by then
    review_on: date | None = Field(default=None, sa_column=Column(Date, index=True))


class ValueDirty(SQLModel, table=True):
    """A customer whose value inputs (bookings, refunds, merges, complaints, feedback, membership) changed since the
    last nightly run; written in the same transaction as the change, cleared by the nightly run."""

    __tablename__ = "value_dirty"
    customer_id: str = Field(sa_column=Column(String(100), primary_key=True))
    marked_at: datetime = Field(sa_column=utc_column())


class ValueRun(SQLModel, table=True):
    """The last nightly value run and the scoring version it used: another version means a full recompute."""

    __tablename__ = "value_run"
    name: str = Field(sa_column=Column(String(50), primary_key=True))
    version: str = Field(sa_column=Column(String(100), nullable=False))
    mode: str = Field(sa_column=Column(String(20), nullable=False))  # full|incremental
    ran_at: datetime = Field(sa_column=utc_column())


class MembershipView(SQLModel, table=True):
    """What loyalty events told us: tier, balance, points about to lapse."""

    __tablename__ = "membership_view"
    customer_id: str = Field(sa_column=Column(String(100), primary_key=True))
    tier: str | None = Field(default=None, sa_column=Column(String(20)))
    points_balance: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    expiring_points: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    expiring_on: date | None = Field(default=None, sa_column=Column(Date))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class ComplaintView(SQLModel, table=True):
    """What complaint events told us (no free text)."""

    __tablename__ = "complaint_view"
    complaint_id: str = Field(sa_column=Column(String(100), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    status: str = Field(sa_column=Column(String(20), nullable=False))  # open|resolved|closed
    category: str | None = Field(default=None, sa_column=Column(String(100)))
    severity: str | None = Field(default=None, sa_column=Column(String(20)))
    sla_met: bool | None = Field(default=None, sa_column=Column(Boolean))
    satisfied: bool | None = Field(default=None, sa_column=Column(Boolean))
    filed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class FeedbackView(SQLModel, table=True):
    """Scores from feedback events (no comment text)."""

    __tablename__ = "feedback_view"
    response_id: str = Field(sa_column=Column(String(100), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    nps: int | None = Field(default=None, sa_column=Column(Integer))
    csat: float | None = Field(default=None, sa_column=Column(Float))
    sentiment: float | None = Field(default=None, sa_column=Column(Float))
    detractor: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    submitted_at: datetime = Field(sa_column=utc_column())


class MergeRecord(SQLModel, table=True):
    __tablename__ = "merge_record"
    id: str = Field(sa_column=Column(String(100), primary_key=True))
    surviving_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    merged_ids: list = Field(sa_column=Column(JSON, nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(String(500)))
    merged_by: str = Field(sa_column=Column(String(100), nullable=False))
    merged_at: datetime = Field(sa_column=utc_column())


class Segment(SQLModel, table=True):
    __tablename__ = "segment"
    id: str = Field(sa_column=Column(String(100), primary_key=True))
    name: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    match: str = Field(default="all", sa_column=Column(String(3), nullable=False))
    rules: list = Field(sa_column=Column(JSON, nullable=False))
    created_by: str = Field(sa_column=Column(String(100), nullable=False))
    created_at: datetime = Field(sa_column=utc_column())


class CareTask(SQLModel, table=True):
    """A customer-care task (客户关怀); `occasion` makes each one unique per customer."""

    __tablename__ = "care_task"
    __table_args__ = (UniqueConstraint("customer_id", "kind", "occasion", name="uq_care_task_occasion"),)
    id: str = Field(sa_column=Column(String(100), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    kind: str = Field(sa_column=Column(String(30), nullable=False))
    occasion: str = Field(sa_column=Column(String(100), nullable=False))
    due_at: datetime = Field(sa_column=utc_column(index=True))
    status: str = Field(default="scheduled", sa_column=Column(String(20), nullable=False, index=True))
    channel: str | None = Field(default=None, sa_column=Column(String(20)))
    note: str | None = Field(default=None, sa_column=Column(String(200)))
    emitted_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # the staff work queue (worklist.py): who does it, until when it sleeps, the staff's note, the win-back offer
    assignee: str | None = Field(default=None, sa_column=Column(String(100), index=True))
    snoozed_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    staff_note: str | None = Field(default=None, sa_column=Column(String(1000)))
    offer_id: str | None = Field(default=None, sa_column=Column(String(100)))
    offer_expires_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    completed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    contact_id: str | None = Field(default=None, sa_column=Column(String(100)))  # the contact that completed it


class ErasureRequest(SQLModel, table=True):
    __tablename__ = "erasure_request"
    request_id: str = Field(sa_column=Column(String(100), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    requested_by: str = Field(sa_column=Column(String(100), nullable=False))
    requested_at: datetime = Field(sa_column=utc_column())
    services: list = Field(sa_column=Column(JSON, nullable=False))


class ErasureConfirmation(SQLModel, table=True):
    __tablename__ = "erasure_confirmation"
    request_id: str = Field(sa_column=Column(String(100), primary_key=True))
    service: str = Field(sa_column=Column(String(50), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False))
    erased_at: datetime = Field(sa_column=utc_column())


class ProfileConfig(SQLModel, table=True):
    """Tunable thresholds (value classes, churn threshold, quiet hours), one JSON document per key."""

    __tablename__ = "profile_config"
    key: str = Field(sa_column=Column(String(50), primary_key=True))
    value: dict = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


from services.profile.contact_models import AtRiskEpisode, ContactRecord, LapseReason, Lead  # noqa: E402, F401
