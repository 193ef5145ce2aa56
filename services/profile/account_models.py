"""Tables of key accounts (大客户): organisations, the people who book for them, their billing contacts, credit
(资信管理: charges, payments, rating history, over-limit history) and stored segment memberships. Kept apart from
models.py so the customer file's tables read as one list; the same SQLModel metadata holds both."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, Column, Date, Index, Integer, Numeric, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import utc_column, utcnow


class Organisation(SQLModel, table=True):
    """A company customer (企业客户): the company record, its credit terms and its current credit standing."""

    __tablename__ = "organisation"
    id: str = Field(sa_column=Column(String(100), primary_key=True))
    name: str = Field(sa_column=Column(String(300), nullable=False))
    registration_number: str = Field(sa_column=Column(String(100), nullable=False, unique=True))
    industry: str | None = Field(default=None, sa_column=Column(String(100), index=True))
    size: str | None = Field(default=None, sa_column=Column(String(20)))
    address: dict | None = Field(default=None, sa_column=Column(JSON))
    account_owner: str | None = Field(default=None, sa_column=Column(String(100), index=True))
    credit_limit: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 2)))
    credit_currency: str | None = Field(default=None, sa_column=Column(String(3)))
    payment_terms_days: int = Field(default=30, sa_column=Column(Integer, nullable=False))
    credit_rating: str | None = Field(default=None, sa_column=Column(String(5)))
    over_limit: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, index=True))
    over_limit_since: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class BillingContact(SQLModel, table=True):
    """A person the organisation is billed through (personal data: erased with the organisation's people, or
    with the customer file it names)."""

    __tablename__ = "organisation_contact"
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    organisation_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    phone: str | None = Field(default=None, sa_column=Column(String(40)))
    email: str | None = Field(default=None, sa_column=Column(String(320)))
    role: str | None = Field(default=None, sa_column=Column(String(100)))
    customer_id: str | None = Field(default=None, sa_column=Column(String(100), index=True))


class OrganisationMember(SQLModel, table=True):
    """A customer who books for the organisation, in one role (booker, traveller, approver)."""

    __tablename__ = "organisation_member"
    organisation_id: str = Field(sa_column=Column(String(100), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), primary_key=True, index=True))
    role: str = Field(sa_column=Column(String(20), nullable=False))
    linked_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class CreditCharge(SQLModel, table=True):
    """A booking on account; due `payment_terms_days` after it was booked. Once per (organisation, booking)."""

    __tablename__ = "credit_charge"
    __table_args__ = (UniqueConstraint("organisation_id", "booking_id", name="uq_credit_charge_booking"),
                      Index("ix_credit_charge_due", "organisation_id", "due_on"))
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    organisation_id: str = Field(sa_column=Column(String(100), nullable=False))
    booking_id: str = Field(sa_column=Column(String(100), nullable=False))
    customer_id: str | None = Field(default=None, sa_column=Column(String(100)))
    amount: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    booked_on: date = Field(sa_column=Column(Date, nullable=False))
    due_on: date = Field(sa_column=Column(Date, nullable=False))
    over_limit: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class CreditPayment(SQLModel, table=True):
    """A payment received; once per (organisation, reference)."""

    __tablename__ = "credit_payment"
    __table_args__ = (UniqueConstraint("organisation_id", "reference", name="uq_credit_payment_reference"),)
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    organisation_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    reference: str = Field(sa_column=Column(String(100), nullable=False))
    amount: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    paid_on: date = Field(sa_column=Column(Date, nullable=False))
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class CreditRatingChange(SQLModel, table=True):
    __tablename__ = "credit_rating_change"
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    organisation_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    old_rating: str | None = Field(default=None, sa_column=Column(String(5)))
    new_rating: str = Field(sa_column=Column(String(5), nullable=False))
    reason: str = Field(sa_column=Column(String(500), nullable=False))
    changed_by: str = Field(sa_column=Column(String(100), nullable=False))
    changed_at: datetime = Field(sa_column=utc_column())


class CreditFlagChange(SQLModel, table=True):
    """The organisation went over its credit limit (`over_limit` true) or came back under it (false)."""

    __tablename__ = "credit_flag_change"
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    organisation_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    over_limit: bool = Field(sa_column=Column(Boolean, nullable=False))
    exposure: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    credit_limit: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    cause: str = Field(sa_column=Column(String(100), nullable=False))
    changed_at: datetime = Field(sa_column=utc_column())


class SegmentMembership(SQLModel, table=True):
    """Who was in a segment at its last evaluation: what the next one diffs against to emit joined / left."""

    __tablename__ = "segment_membership"
    segment_id: str = Field(sa_column=Column(String(100), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), primary_key=True, index=True))
    joined_at: datetime = Field(sa_column=utc_column())
