"""Tables of the complaints service, and the schemas of its API.

A complaint carries its own SLA clock state (targets, warnings, breaches, escalation level) so that
the periodic job fires each alarm once and a restart changes nothing; pauses are rows of their own,
so a recomputation from the start keeps them. Booking facts and consents are kept from events, for
the reach of a crisis and the recovered-customer measure.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Column, Date, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import BIGID, utc_column, utcnow


class Complaint(SQLModel, table=True):
    __tablename__ = "complaint"
    __table_args__ = (Index("ix_complaint_state_filed", "state", "filed_at"),)
    id: str = Field(sa_column=Column(String(36), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    channel: str = Field(sa_column=Column(String(30), nullable=False))
    source: str = Field(default="customer", sa_column=Column(String(20), nullable=False))
    source_ref: str | None = Field(default=None, sa_column=Column(String(200), nullable=True, unique=True))
    booking_id: str | None = Field(default=None, sa_column=Column(String(100), nullable=True, index=True))
    product_id: str | None = Field(default=None, sa_column=Column(String(100), nullable=True, index=True))
    destination: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    supplier: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    trip_phase: str = Field(sa_column=Column(String(10), nullable=False))
    summary: str = Field(sa_column=Column(String(300), nullable=False))
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    occurred_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    attachments: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    context: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # survey answers, booking context
    category: str = Field(sa_column=Column(String(40), nullable=False))
    severity: str = Field(sa_column=Column(String(10), nullable=False))
    suggested_category: str = Field(sa_column=Column(String(40), nullable=False))
    suggested_severity: str = Field(sa_column=Column(String(10), nullable=False))
    queue: str = Field(sa_column=Column(String(40), nullable=False))
    assignee: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    state: str = Field(default="received", sa_column=Column(String(30), nullable=False))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    filed_at: datetime = Field(sa_column=utc_column())
    first_response_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    resolved_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    root_cause: str | None = Field(default=None, sa_column=Column(String(40), nullable=True))
    preventive_action: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    compensation_points: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    sla_met: bool | None = Field(default=None, sa_column=Column(Boolean, nullable=True))
    reopen_count: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    reopened_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))  # the resolution clock's new start
    satisfied: bool | None = Field(default=None, sa_column=Column(Boolean, nullable=True))
    # SLA clocks: targets (null while paused), and the alarms already fired ("first_response:warning", …)
    first_response_due: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    resolution_due: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    paused: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    alarms: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    escalation_level: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    crisis_id: str | None = Field(default=None, sa_column=Column(String(36), nullable=True, index=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class TimelineEntry(SQLModel, table=True):
    """Every step, note, contact, alarm and answer of a complaint, in order."""

    __tablename__ = "complaint_timeline"
    id: int | None = Field(default=None, sa_column=Column(BIGID, primary_key=True, autoincrement=True))
    complaint_id: str = Field(sa_column=Column(String(36), nullable=False, index=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    at: datetime = Field(sa_column=utc_column())
    kind: str = Field(sa_column=Column(String(20), nullable=False))  # transition, note, contact, solution, sla, …
    actor: str = Field(sa_column=Column(String(100), nullable=False))
    channel: str | None = Field(default=None, sa_column=Column(String(30), nullable=True))
    from_state: str | None = Field(default=None, sa_column=Column(String(30), nullable=True))
    to_state: str | None = Field(default=None, sa_column=Column(String(30), nullable=True))
    text: str = Field(default="", sa_column=Column(Text, nullable=False))


class Pause(SQLModel, table=True):
    """A stretch of time the SLA clocks stood still (waiting on the customer or a supplier)."""

    __tablename__ = "complaint_pause"
    id: int | None = Field(default=None, sa_column=Column(BIGID, primary_key=True, autoincrement=True))
    complaint_id: str = Field(sa_column=Column(String(36), nullable=False, index=True))
    reason: str = Field(sa_column=Column(String(30), nullable=False))
    started_at: datetime = Field(sa_column=utc_column())
    ended_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Solution(SQLModel, table=True):
    """A proposed remedy; money as Decimal with a currency, goodwill as integer points."""

    __tablename__ = "complaint_solution"
    id: str = Field(sa_column=Column(String(36), primary_key=True))
    complaint_id: str = Field(sa_column=Column(String(36), nullable=False, index=True))
    kind: str = Field(sa_column=Column(String(30), nullable=False))
    amount: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 2), nullable=True))
    currency: str | None = Field(default=None, sa_column=Column(String(3), nullable=True))
    points: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str = Field(sa_column=Column(String(20), nullable=False))  # proposed, agreed, declined, withdrawn
    proposed_by: str = Field(sa_column=Column(String(100), nullable=False))
    approved_by: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    created_at: datetime = Field(sa_column=utc_column())


class BookingFact(SQLModel, table=True):
    """What complaints keeps of a booking: who travels on which product, where and when."""

    __tablename__ = "complaint_booking"
    booking_id: str = Field(sa_column=Column(String(100), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    product_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    destination: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    travel_start: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    travel_end: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    completed_at: datetime = Field(sa_column=utc_column())
    cancelled: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))


class ConsentFact(SQLModel, table=True):
    """The customer's consent to service messages per channel (from consent-changed)."""

    __tablename__ = "complaint_consent"
    __table_args__ = (UniqueConstraint("customer_id", "channel", name="uq_complaint_consent"),)
    id: int | None = Field(default=None, sa_column=Column(BIGID, primary_key=True, autoincrement=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    channel: str = Field(sa_column=Column(String(20), nullable=False))
    granted: bool = Field(sa_column=Column(Boolean, nullable=False))
    changed_at: datetime = Field(sa_column=utc_column())


class Crisis(SQLModel, table=True):
    __tablename__ = "complaint_crisis"
    id: str = Field(sa_column=Column(String(36), primary_key=True))
    kind: str = Field(sa_column=Column(String(30), nullable=False))
    scope_kind: str = Field(sa_column=Column(String(20), nullable=False))  # product, destination, supplier
    scope_value: str = Field(sa_column=Column(String(200), nullable=False))
    status: str = Field(default="open", sa_column=Column(String(20), nullable=False))
    opened_by: str = Field(sa_column=Column(String(100), nullable=False))
    affected_from: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    affected_to: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    message: str = Field(default="", sa_column=Column(Text, nullable=False))
    checklist: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    decision: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    declared_at: datetime = Field(sa_column=utc_column())


class CrisisNoticeSent(SQLModel, table=True):
    """One proactive message per affected customer and crisis."""

    __tablename__ = "complaint_crisis_notice"
    __table_args__ = (UniqueConstraint("crisis_id", "customer_id", name="uq_complaint_crisis_notice"),)
    id: int | None = Field(default=None, sa_column=Column(BIGID, primary_key=True, autoincrement=True))
    crisis_id: str = Field(sa_column=Column(String(36), nullable=False))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    channel: str = Field(sa_column=Column(String(20), nullable=False))
    sent_at: datetime = Field(sa_column=utc_column())


class Incident(SQLModel, table=True):
    """An incident record (事故): what happened, the handbook's checklist, the supplier, the insurance
    claim and the outcome; the written report is generated from it."""

    __tablename__ = "complaint_incident"
    id: str = Field(sa_column=Column(String(36), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    complaint_id: str | None = Field(default=None, sa_column=Column(String(36), nullable=True, index=True))
    booking_id: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    kind: str = Field(sa_column=Column(String(30), nullable=False))
    occurred_at: datetime = Field(sa_column=utc_column())
    location: str = Field(default="", sa_column=Column(String(300), nullable=False))
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    supplier: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    details: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    checklist: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    insurance: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    outcome: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status: str = Field(default="open", sa_column=Column(String(20), nullable=False))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    created_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())


class PolicyVersion(SQLModel, table=True):
    """Every change of the complaints policy (SLA targets, calendar, crisis threshold, agent limits) is a
    new version; the highest is in force."""

    __tablename__ = "complaint_policy"
    version: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    config: str = Field(sa_column=Column(Text, nullable=False))
    actor: str = Field(sa_column=Column(String(100), nullable=False))
    created_at: datetime = Field(sa_column=utc_column())
