"""Tables of the loyalty service: programme versions, members, the points ledger and its lots,
bookings (the business key of earning), redemptions (holds), rewards, campaigns, referrals,
win-back offers and notices.

Points are integers. A member's `balance` is a cached copy of the sum of its ledger entries,
kept in the same transaction as every entry (tests check the invariant); `sum(lot.remaining)`
equals the balance too, which is how expiry is FIFO by earn date.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Column, Date, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import BIGID, utc_column, utcnow

_ts = utc_column  # timestamptz (the migrations say sa.DateTime(timezone=True)); aware UTC datetimes back


class ProgrammeVersion(SQLModel, table=True):
    """Every change of the programme is a new version: the audit trail of admin changes."""

    __tablename__ = "loyalty_programme"
    version: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    config: str = Field(sa_column=Column(Text, nullable=False))
    actor: str = Field(sa_column=Column(String(100), nullable=False))
    reason: str = Field(sa_column=Column(String(500), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Member(SQLModel, table=True):
    __tablename__ = "loyalty_member"
    customer_id: str = Field(sa_column=Column(String(100), primary_key=True))
    member_type: str = Field(default="individual", sa_column=Column(String(20), nullable=False))
    # Family members and pooled enterprise travellers point at the account that holds their points.
    account_id: str | None = Field(default=None, sa_column=Column(String(100), nullable=True, index=True))
    # An enterprise member's organisation (loyalty_organisation, a copy of profile's key accounts).
    organisation_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True, index=True))
    points_to: str = Field(default="account", sa_column=Column(String(20), nullable=False))
    tier: str = Field(default="regular", sa_column=Column(String(20), nullable=False))
    tier_since: datetime = Field(default_factory=utcnow, sa_column=_ts())
    tier_override: str | None = Field(default=None, sa_column=Column(String(20), nullable=True))
    tier_override_until: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    next_review_on: date = Field(sa_column=Column(Date, nullable=False, index=True))
    balance: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    debt: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    # Points reserved by holds in status "held" (live or expired but not yet swept), kept under the row lock.
    held: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    segments: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    status: str = Field(default="active", sa_column=Column(String(20), nullable=False))
    merged_into: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    enrolled_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class LedgerEntry(SQLModel, table=True):
    """An immutable movement of points on an account, with its cause."""

    __tablename__ = "loyalty_entry"
    __table_args__ = (Index("ix_loyalty_entry_customer_id_id", "customer_id", "id"),
                      Index("ix_loyalty_entry_created_at", "created_at"))  # the KPIs of a period
    id: int | None = Field(default=None, sa_column=Column(BIGID, primary_key=True, autoincrement=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False))
    earned_by: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    points: int = Field(sa_column=Column(Integer, nullable=False))
    cause_type: str = Field(sa_column=Column(String(30), nullable=False))
    cause_id: str | None = Field(default=None, sa_column=Column(String(200), nullable=True, index=True))
    business_key: str | None = Field(default=None, sa_column=Column(String(250), nullable=True, unique=True))
    reason: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))
    actor: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    note: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Lot(SQLModel, table=True):
    """Points credited together and expiring together; consumed FIFO by earn date."""

    __tablename__ = "loyalty_lot"
    __table_args__ = (Index("ix_loyalty_lot_customer_id_earned_at", "customer_id", "earned_at"),)
    id: int | None = Field(default=None, sa_column=Column(BIGID, primary_key=True, autoincrement=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False))
    entry_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    booking_id: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    earned_at: datetime = Field(sa_column=_ts())
    expires_on: date = Field(sa_column=Column(Date, nullable=False, index=True))
    points: int = Field(sa_column=Column(Integer, nullable=False))
    remaining: int = Field(sa_column=Column(Integer, nullable=False))
    expired: int = Field(default=0, sa_column=Column(Integer, nullable=False))


class Booking(SQLModel, table=True):
    """One row per booking id: what it earned; the business key that makes earning happen once."""

    __tablename__ = "loyalty_booking"
    booking_id: str = Field(sa_column=Column(String(100), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    traveller_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))  # a campaign's report
    status: str = Field(sa_column=Column(String(20), nullable=False))
    amount: Decimal = Field(default=Decimal("0"), sa_column=Column(Numeric(14, 2), nullable=False))
    currency: str = Field(default="CNY", sa_column=Column(String(3), nullable=False))
    spend: Decimal = Field(default=Decimal("0"), sa_column=Column(Numeric(14, 2), nullable=False))
    earned: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    qualifying: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    completed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    cancelled_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    product_kind: str | None = Field(default=None, sa_column=Column(String(50), nullable=True))  # margin per kind


class Redemption(SQLModel, table=True):
    """A hold that reserves points at checkout; captured when paid, released when abandoned, or expired."""

    __tablename__ = "loyalty_redemption"
    id: str = Field(sa_column=Column(String(36), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    points: int = Field(sa_column=Column(Integer, nullable=False))
    reward_id: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    booking_id: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    cash_value: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 2), nullable=True))
    currency: str | None = Field(default=None, sa_column=Column(String(3), nullable=True))
    status: str = Field(default="held", sa_column=Column(String(20), nullable=False, index=True))
    expires_at: datetime = Field(sa_column=_ts())
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    settled_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    entry_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class Reward(SQLModel, table=True):
    __tablename__ = "loyalty_reward"
    id: str = Field(sa_column=Column(String(100), primary_key=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    points: int = Field(sa_column=Column(Integer, nullable=False))
    stock: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    per_member_limit: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Campaign(SQLModel, table=True):
    __tablename__ = "loyalty_campaign"
    id: str = Field(sa_column=Column(String(100), primary_key=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    multiplier: Decimal | None = Field(default=None, sa_column=Column(Numeric(6, 2), nullable=True))
    bonus_points: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    tiers: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    segments: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    tags: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    destinations: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    starts_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    ends_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    budget: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    issued: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    status: str = Field(default="active", sa_column=Column(String(20), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    # aimed at a profile segment (segments.py), with a control group of this % (uplift.py); when it was ended
    segment_id: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    control_pct: Decimal | None = Field(default=None, sa_column=Column(Numeric(5, 2), nullable=True))
    ended_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class CampaignAward(SQLModel, table=True):
    __tablename__ = "loyalty_campaign_award"
    __table_args__ = (UniqueConstraint("campaign_id", "booking_id", name="uq_loyalty_campaign_award_booking"),)
    id: int | None = Field(default=None, sa_column=Column(BIGID, primary_key=True, autoincrement=True))
    campaign_id: str = Field(sa_column=Column(String(100), nullable=False))
    booking_id: str = Field(sa_column=Column(String(100), nullable=False))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    points: int = Field(sa_column=Column(Integer, nullable=False))
    revenue: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    reversed: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class ReferralCode(SQLModel, table=True):
    __tablename__ = "loyalty_referral_code"
    code: str = Field(sa_column=Column(String(20), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, unique=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Referral(SQLModel, table=True):
    """A referee registered under a code; the referrer's bonus is paid once, on the referee's first trip."""

    __tablename__ = "loyalty_referral"
    id: str = Field(sa_column=Column(String(36), primary_key=True))
    referee_id: str = Field(sa_column=Column(String(100), nullable=False, unique=True))
    code: str = Field(sa_column=Column(String(20), nullable=False))
    referrer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    status: str = Field(default="pending", sa_column=Column(String(20), nullable=False))
    booking_id: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    awarded_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class Offer(SQLModel, table=True):
    """A win-back bonus offered to an at-risk customer, paid on their next completed booking."""

    __tablename__ = "loyalty_offer"
    id: str = Field(sa_column=Column(String(36), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    points: int = Field(sa_column=Column(Integer, nullable=False))
    status: str = Field(default="open", sa_column=Column(String(20), nullable=False))
    expires_at: datetime = Field(sa_column=_ts())
    booking_id: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Notice(SQLModel, table=True):
    """A notice already emitted (points-expiring, tier-downgrade-warning): each is sent once."""

    __tablename__ = "loyalty_notice"
    key: str = Field(sa_column=Column(String(250), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    kind: str = Field(sa_column=Column(String(30), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class SegmentMember(SQLModel, table=True):
    """Loyalty's copy of profile's segment memberships (segment-membership-changed); `member` false once left."""

    __tablename__ = "loyalty_segment_member"
    segment_id: str = Field(sa_column=Column(String(100), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), primary_key=True, index=True))
    segment: str = Field(sa_column=Column(String(200), nullable=False))
    member: bool = Field(sa_column=Column(Boolean, nullable=False))
    changed_at: datetime = Field(sa_column=_ts())


class CampaignGroup(SQLModel, table=True):
    """A member's group in a segment campaign ("treated" or "control"), recorded once when it became eligible."""

    __tablename__ = "loyalty_campaign_group"
    campaign_id: str = Field(sa_column=Column(String(100), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), primary_key=True, index=True))
    grp: str = Field(sa_column=Column(String(10), nullable=False))
    assigned_at: datetime = Field(sa_column=_ts())


# --- copies of profile's facts, checkout benefits and member events (issues 12 and 14) ---------------


class KnownCustomer(SQLModel, table=True):
    """A customer profile knows (customer-registered, or a booking profile's ingest validated): ids only."""

    __tablename__ = "loyalty_customer"
    customer_id: str = Field(sa_column=Column(String(100), primary_key=True))
    known_since: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Organisation(SQLModel, table=True):
    """A key account profile registered (organisation-registered): the company record, never its people."""

    __tablename__ = "loyalty_organisation"
    organisation_id: str = Field(sa_column=Column(String(64), primary_key=True))
    name: str = Field(sa_column=Column(String(300), nullable=False))
    industry: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    registered_at: datetime = Field(sa_column=_ts())


class Upgrade(SQLModel, table=True):
    """A free upgrade (a tier benefit) used on a booking: once per booking, counted per account and year."""

    __tablename__ = "loyalty_upgrade"
    __table_args__ = (Index("ix_loyalty_upgrade_customer_id_year", "customer_id", "year"),)
    id: int | None = Field(default=None, sa_column=Column(BIGID, primary_key=True, autoincrement=True))
    booking_id: str = Field(sa_column=Column(String(100), nullable=False, unique=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False))  # the account whose allowance it uses
    used_by: str = Field(sa_column=Column(String(100), nullable=False))
    tier: str = Field(sa_column=Column(String(20), nullable=False))
    year: int = Field(sa_column=Column(Integer, nullable=False))
    used_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class MemberEvent(SQLModel, table=True):
    """A member activity (会员活动): a member day or a trip for members, with registration and attendance points."""

    __tablename__ = "loyalty_member_event"
    id: str = Field(sa_column=Column(String(36), primary_key=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    held_on: date = Field(sa_column=Column(Date, nullable=False, index=True))
    capacity: int = Field(sa_column=Column(Integer, nullable=False))
    registered: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    tiers: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    attendance_points: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class EventRegistration(SQLModel, table=True):
    __tablename__ = "loyalty_event_registration"
    __table_args__ = (UniqueConstraint("event_id", "customer_id", name="uq_loyalty_event_registration"),)
    id: int | None = Field(default=None, sa_column=Column(BIGID, primary_key=True, autoincrement=True))
    event_id: str = Field(sa_column=Column(String(36), nullable=False))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    status: str = Field(default="registered", sa_column=Column(String(20), nullable=False))
    points: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    registered_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    attended_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
