"""What the checkout (quote, free upgrades) and member-event routes take and give. Money is a decimal string;
points are integers; every bound fits the database on both backends."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, field_validator

from services.loyalty.models import EventRegistration, MemberEvent
from services.loyalty.programme import Benefits, TierName
from services.loyalty.schemas import Body, Id, Public
from shared.events import BookingAmount, Currency
from shared.fields import Day, Moment

Tag = Annotated[str, Field(min_length=1, max_length=100)]


# --- checkout ------------------------------------------------------------------------------------


class QuoteProduct(Body):
    kind: str = Field(min_length=1, max_length=50, description="tour, hotel, flight, cruise, ticket, package …")
    destination: str | None = Field(default=None, min_length=1, max_length=200)
    tags: list[Tag] = Field(default_factory=list, max_length=50)


class QuoteCreate(Body):
    amount: BookingAmount = Field(description="the booking's price before the tier discount")
    currency: Currency = "CNY"
    product: QuoteProduct
    booking_id: Id | None = Field(default=None, description="the booking being checked out, if it has an id yet")


class UpgradeAllowance(Public):
    per_year: int
    used_this_year: int
    left_this_year: int
    available: bool = Field(description="a free upgrade can be used on this booking")


class Redeemable(Public):
    points: int = Field(description="points the member may redeem on this booking: what is available, up to the "
                                    "amount after the discount")
    cash_value: Decimal = Field(description="what those points are worth, in the programme currency")
    currency: str


class Quote(Public):
    customer_id: str
    account_id: str
    tier: str
    tier_label: str
    amount: Decimal
    currency: str
    discount_pct: Decimal
    discount: Decimal = Field(description="the tier discount, in the booking currency")
    amount_after_discount: Decimal
    upgrade: UpgradeAllowance
    redeemable: Redeemable
    points_to_earn: int = Field(description="what the booking earns at the member's tier on the amount after the "
                                            "discount (tier multiplier, product bonuses, the per-booking cap); "
                                            "campaign and win-back bonuses are decided when it completes")
    earn_multiplier: Decimal
    benefits: Benefits


class UpgradeCreate(Body):
    booking_id: Id


class UpgradePublic(Public):
    booking_id: str
    customer_id: str = Field(description="the account whose yearly allowance it used")
    used_by: str
    tier: str
    year: int
    used_at: Moment
    left_this_year: int


# --- member events (会员活动) ---------------------------------------------------------------------


class MemberEventCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["member_day", "trip", "other"] = "member_day"
    held_on: Day = Field(description="today or later, within three years")
    capacity: int = Field(ge=1, le=1_000_000, strict=True)
    tiers: list[TierName] = Field(default_factory=list, max_length=4, description="eligible tiers; empty: every tier")
    attendance_points: int = Field(default=0, ge=0, le=1_000_000, strict=True)

    @field_validator("held_on")
    @classmethod
    def _within_three_years(cls, day: date) -> date:
        if day > date.today() + timedelta(days=3 * 366):
            raise ValueError("is more than three years ahead")
        return day

    @field_validator("tiers")
    @classmethod
    def _once_each(cls, tiers: list[str]) -> list[str]:
        if len(set(tiers)) != len(tiers):
            raise ValueError("names a tier twice")
        return tiers


class MemberEventPublic(Public):
    id: str
    name: str
    kind: str
    held_on: Day
    capacity: int
    registered: int
    places_left: int
    tiers: list[str]
    attendance_points: int
    created_at: Moment


def member_event_public(e: MemberEvent) -> MemberEventPublic:
    return MemberEventPublic(id=e.id, name=e.name, kind=e.kind, held_on=e.held_on, capacity=e.capacity,
                             registered=e.registered, places_left=max(0, e.capacity - e.registered),
                             tiers=json.loads(e.tiers), attendance_points=e.attendance_points, created_at=e.created_at)


class RegistrationCreate(Body):
    customer_id: Id


class RegistrationPublic(Public):
    event_id: str
    customer_id: str
    status: str
    points: int = Field(description="attendance points awarded")
    registered_at: Moment
    attended_at: Moment | None


def registration_public(r: EventRegistration) -> RegistrationPublic:
    return RegistrationPublic.model_validate(r)
