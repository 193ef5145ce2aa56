"""What the loyalty API takes and gives: request bodies (`…Create`, `…Update`, …) and answers (`…Public`).

Points are integers; money is a decimal string; times are UTC. Every route declares its answer, so the
OpenAPI document shows each body.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from services.loyalty.insights import UpliftReport
from services.loyalty.models import Campaign, LedgerEntry, Referral
from services.loyalty.programme import Benefits, Programme, TierName
from shared.fields import Day, Flag, Moment, Whole
from shared.pages import Page

Id = Annotated[str, Field(min_length=1, max_length=100)]
CatalogId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- programme -----------------------------------------------------------------------------------


class ProgrammeChange(Body):
    programme: Programme
    reason: str = Field(min_length=3, max_length=500)


class ProgrammePublic(Public):
    version: int
    programme: Programme


class ProgrammeVersionPublic(Public):
    version: int
    actor: str
    reason: str
    created_at: Moment


# --- members -------------------------------------------------------------------------------------


class MemberCreate(Body):
    customer_id: Id
    member_type: Literal["individual", "family", "enterprise"] = "individual"
    members: list[Id] = Field(default_factory=list, max_length=500, description="family members or travellers")
    points_to: Literal["account", "traveller"] = Field(
        default="account", description="enterprise: points pool in the account, or stay with each traveller")
    organisation_id: str | None = Field(default=None, min_length=1, max_length=64, validate_default=True,
                                        description="enterprise: the organisation profile registered (required)")

    @field_validator("organisation_id")
    @classmethod
    def _enterprise_names_its_organisation(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("member_type")
        if kind == "enterprise" and value is None:
            raise ValueError("an enterprise member names its organisation")
        if kind in ("individual", "family") and value is not None:
            raise ValueError("only an enterprise member has an organisation")
        return value

    @model_validator(mode="after")
    def _roster(self) -> MemberCreate:
        if self.members and self.member_type == "individual":
            raise ValueError("only family and enterprise members have members")
        return self


class Roster(Body):
    members: list[Id] = Field(min_length=1, max_length=500)


class TierOverride(Body):
    tier: TierName
    until: Day
    reason: str = Field(min_length=3, max_length=300)


class OverridePublic(Public):
    tier: str
    until: Day


class Expiring(Public):
    points: int
    expires_on: Day


class RedemptionPublic(Public):
    id: str
    customer_id: str
    kind: str
    status: str
    points: int
    reward_id: str | None
    booking_id: str | None
    cash_value: Decimal | None
    currency: str | None
    expires_at: Moment
    created_at: Moment
    settled_at: Moment | None


class Qualifying(Public):
    points: int
    spend: str
    trips: int
    window_months: int


class ToNext(Public):
    points: int | None
    spend: str | None
    trips: int | None


class TierProgress(Public):
    """The qualification window's figures, the review date, the next tier and what it (or keeping this one) takes."""

    qualifying: Qualifying
    review_on: Day
    qualifies_for: str
    next_tier: str | None = None
    to_next: ToNext | None = None
    to_keep: str | None = None


class MemberPublic(Public):
    customer_id: str
    account_id: str
    member_type: str
    points_to: str
    organisation_id: str | None = None
    roster: list[str]
    tier: str
    tier_label: str
    tier_override: OverridePublic | None
    points_balance: int
    points_available: int
    points_held: int
    debt: int
    pending_holds: list[RedemptionPublic]
    expiring_soon: list[Expiring]
    tier_progress: TierProgress
    benefits: Benefits
    segments: list[str]
    enrolled_at: Moment


class Cause(Public):
    type: str
    id: str | None


class EntryPublic(Public):
    id: str
    kind: str
    points: int
    cause: Cause
    earned_by: str | None
    reason: str | None
    note: str | None
    actor: str | None
    created_at: Moment


def entry_public(e: LedgerEntry) -> EntryPublic:
    return EntryPublic(id=str(e.id), kind=e.kind, points=e.points, cause=Cause(type=e.cause_type, id=e.cause_id),
                       earned_by=e.earned_by, reason=e.reason, note=e.note, actor=e.actor, created_at=e.created_at)


class Statement(Page[EntryPublic]):
    """The account's entries, newest first."""

    customer_id: str
    account_id: str
    points_balance: int
    debt: int
    debt_note: str | None


# --- redemptions and adjustments -----------------------------------------------------------------


class RedemptionCreate(Body):
    points: int | None = Field(default=None, gt=0, le=100_000_000, description="points-as-cash")
    reward_id: str | None = Field(default=None, min_length=1, max_length=100)
    booking_id: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_of(self) -> RedemptionCreate:
        if (self.points is None) == (self.reward_id is None):
            raise ValueError("send either points (points-as-cash) or reward_id")
        return self


class Adjustment(Body):
    points: int = Field(ge=-100_000_000, le=100_000_000, description="signed; never 0")
    reason: str = Field(min_length=3, max_length=500)

    @model_validator(mode="after")
    def _nonzero(self) -> Adjustment:
        if self.points == 0:
            raise ValueError("points must not be 0")
        return self


class AdjustmentPublic(Public):
    entry: EntryPublic
    points_balance: int
    debt: int


# --- rewards and campaigns -----------------------------------------------------------------------


class RewardCreate(Body):
    id: CatalogId
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["coupon", "upgrade", "product"]
    points: Whole = Field(gt=0, le=100_000_000)
    stock: Whole | None = Field(default=None, ge=0, le=2**31 - 1)
    per_member_limit: Whole | None = Field(default=None, ge=1, le=2**31 - 1)
    description: str | None = Field(default=None, max_length=2000)


class RewardUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    points: Whole | None = Field(default=None, gt=0, le=100_000_000)
    stock: Whole | None = Field(default=None, ge=0, le=2**31 - 1)
    per_member_limit: Whole | None = Field(default=None, ge=1, le=2**31 - 1)
    active: Flag | None = None

    @field_validator("name", "points", "active", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # stock and per_member_limit null: unlimited; a reward always has a name, a price and a state
        if value is None:
            raise ValueError("cannot be null (leave it out to keep it)")
        return value


class RewardPublic(Public):
    id: str
    name: str
    kind: str
    points: int
    stock: int | None
    per_member_limit: int | None
    active: Flag
    description: str | None


class PointsAsCash(Public):
    points_per_unit: int
    currency: str


class Rewards(Page[RewardPublic]):
    points_as_cash: PointsAsCash


class CampaignCreate(Body):
    id: CatalogId
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["multiplier", "bonus"]
    multiplier: Decimal | None = Field(default=None, gt=1, le=10, max_digits=6, decimal_places=2)
    bonus_points: int | None = Field(default=None, gt=0, le=1_000_000)
    tiers: list[TierName] = Field(default_factory=list)
    segments: list[Id] = Field(default_factory=list)
    tags: list[Id] = Field(default_factory=list)
    destinations: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list)
    starts_on: Day | None = None
    ends_on: Day | None = None
    budget: int | None = Field(default=None, gt=0)
    segment_id: Id | None = Field(default=None, description="a profile segment: its members become eligible")
    control_pct: Decimal | None = Field(default=None, ge=0, le=90, max_digits=5, decimal_places=2,
                                        description="% of the segment's members held out (no bonus); default 10")

    @model_validator(mode="after")
    def _consistent(self) -> CampaignCreate:
        if self.kind == "multiplier" and self.multiplier is None:
            raise ValueError("a multiplier campaign needs multiplier")
        if self.kind == "bonus" and self.bonus_points is None:
            raise ValueError("a bonus campaign needs bonus_points")
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        if self.segment_id is not None and self.control_pct is None:
            self.control_pct = Decimal(10)
        return self


class CampaignPublic(Public):
    id: str
    name: str
    kind: str
    multiplier: str | None
    bonus_points: int | None
    tiers: list[str]
    segments: list[str]
    tags: list[str]
    destinations: list[str]
    starts_on: Day | None
    ends_on: Day | None
    budget: int | None
    issued: int
    status: str
    segment_id: str | None = None
    control_pct: str | None = None


def campaign_public(c: Campaign) -> CampaignPublic:
    return CampaignPublic(
        id=c.id, name=c.name, kind=c.kind, multiplier=str(c.multiplier) if c.multiplier else None,
        bonus_points=c.bonus_points, tiers=json.loads(c.tiers), segments=json.loads(c.segments),
        tags=json.loads(c.tags), destinations=json.loads(c.destinations), starts_on=c.starts_on, ends_on=c.ends_on,
        budget=c.budget, issued=c.issued, status=c.status, segment_id=c.segment_id,
        control_pct=str(Decimal(c.control_pct).quantize(Decimal("0.01"))) if c.control_pct is not None else None)


class CampaignReport(Public):
    campaign_id: str
    status: str
    participants: int
    points_issued: int
    points_reversed: int
    budget: int | None
    budget_used: int
    revenue: str
    currency: str
    cost: str
    roi: str | None
    uplift: UpliftReport | None = Field(default=None, description="a segment campaign: treated against control")


# --- referrals and reports -----------------------------------------------------------------------


class ReferralCodeCreate(Body):
    customer_id: Id


class RefereeCreate(Body):
    customer_id: Id


class ReferralCodePublic(Public):
    code: str
    customer_id: str


class ReferralPublic(Public):
    id: str
    code: str
    referrer_id: str
    referee_id: str
    status: str
    booking_id: str | None
    awarded_at: Moment | None


def referral_public(r: Referral) -> ReferralPublic:
    return ReferralPublic.model_validate(r)


class Referrals(Page[ReferralPublic]):
    """A member's referrals, oldest first, with the member's code."""

    customer_id: str
    code: str | None


class Liability(Public):
    members: int
    outstanding_points: int
    held_points: int
    debt_points: int
    cash_value: str
    currency: str
    expiring_by_month: dict[str, int]
    as_of: Moment
