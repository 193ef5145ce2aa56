"""Requests and answers of key accounts, credit, acquisition and KPIs (the customer file's are in schemas.py and
public.py). Money is a decimal string on the wire, always beside its currency."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from services.profile.public import BillingContactPublic, Money, Moment, OrganisationLink  # noqa: F401
from services.profile.schemas import Address, CurrencyCode, Email, Phone, Strict
from shared.fields import Day, Whole

Size = Literal["micro", "small", "medium", "large", "enterprise"]
Role = Literal["booker", "traveller", "approver"]
Rating = Literal["AAA", "AA", "A", "B", "C", "D"]
SOURCES: tuple[str, ...] = ("referral", "advertising", "ota", "walk-in", "partner-agency", "franchise-store", "event")
Source = Literal[SOURCES]  # type: ignore[valid-type]
Amount = Annotated[Decimal, Field(gt=0, le=Decimal("100000000"), max_digits=14, decimal_places=2)]
Limit = Annotated[Decimal, Field(ge=0, le=Decimal("1000000000"), max_digits=14, decimal_places=2)]
Id = Annotated[str, Field(min_length=1, max_length=100)]


def _plausible(day: date) -> date:
    if not 1900 <= day.year <= 2999:
        raise ValueError("a date between 1900 and 2999")
    return day


BookDay = Annotated[Day, AfterValidator(_plausible)]


# --- requests -------------------------------------------------------------------------------------------------


class BillingContactIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    phone: Phone | None = None
    email: Email | None = None
    role: str | None = Field(default=None, max_length=100, examples=["finance manager"])
    customer_id: Id | None = Field(default=None, description="the contact's own customer file, when there is one")


class OrganisationIn(Strict):
    name: str = Field(min_length=1, max_length=300)
    registration_number: str = Field(min_length=1, max_length=100, description="unified social credit code; unique")
    industry: str | None = Field(default=None, max_length=100)
    size: Size | None = None
    address: Address | None = None
    account_owner: str | None = Field(default=None, max_length=100, description="the staff member who owns the account")
    billing_contacts: list[BillingContactIn] = Field(default_factory=list, max_length=20)


class OrganisationPatch(Strict):
    """Fields present replace the stored ones; `billing_contacts` replaces the whole list."""

    name: str | None = Field(default=None, min_length=1, max_length=300)
    industry: str | None = Field(default=None, max_length=100)
    size: Size | None = None
    address: Address | None = None
    account_owner: str | None = Field(default=None, max_length=100)
    billing_contacts: list[BillingContactIn] | None = Field(default=None, max_length=20)


class LinkIn(Strict):
    role: Role = "booker"


class CreditTermsIn(Strict):
    credit_limit: Limit
    currency: CurrencyCode
    payment_terms_days: Whole = Field(default=30, ge=0, le=365)


class RatingIn(Strict):
    rating: Rating
    reason: str = Field(min_length=1, max_length=500)


class ChargeIn(Strict):
    booking_id: Id
    amount: Amount
    currency: CurrencyCode
    booked_on: BookDay
    customer_id: Id | None = Field(default=None, description="who booked, when known")


class PaymentIn(Strict):
    reference: Id
    amount: Amount
    currency: CurrencyCode
    paid_on: BookDay


# --- answers --------------------------------------------------------------------------------------------------


class MemberPublic(BaseModel):
    customer_id: str
    role: str
    linked_at: Moment


class OrganisationPublic(BaseModel):
    id: str
    name: str
    registration_number: str
    industry: str | None = None
    size: str | None = None
    address: dict | None = None
    account_owner: str | None = None
    billing_contacts: list[BillingContactPublic]
    people: list[MemberPublic]
    credit_limit: Money | None = None
    credit_currency: str | None = None
    payment_terms_days: int
    credit_rating: str | None = None
    over_limit: bool
    over_limit_since: Moment | None = None
    created_at: Moment
    updated_at: Moment


class OrganisationSummary(BaseModel):
    id: str
    name: str
    registration_number: str
    industry: str | None = None
    size: str | None = None
    account_owner: str | None = None
    credit_rating: str | None = None
    over_limit: bool


class RatingChangePublic(BaseModel):
    old: str | None = None
    new: str
    reason: str
    changed_by: str
    changed_at: Moment


class FlagChangePublic(BaseModel):
    over_limit: bool = Field(description="true: went over the limit; false: came back under it")
    exposure: Money
    credit_limit: Money
    currency: str
    cause: str
    changed_at: Moment


class ChargePublic(BaseModel):
    booking_id: str
    customer_id: str | None = None
    amount: Money
    currency: str
    booked_on: date
    due_on: date
    over_limit: bool = Field(description="recorded although it took the organisation over its credit limit")


class PaymentPublic(BaseModel):
    reference: str
    amount: Money
    currency: str
    paid_on: date


class CreditPublic(BaseModel):
    """Outstanding and overdue per currency (never summed across currencies). `exposure` is what is compared with the
    limit: the outstanding amounts in the limit's currency, other currencies converted at the configured rates;
    amounts in currencies without a rate are in `unconverted` and not counted."""

    organisation_id: str
    credit_limit: Money | None = None
    currency: str | None = None
    payment_terms_days: int
    rating: str | None = None
    outstanding: dict[str, Money]
    overdue: dict[str, Money]
    exposure: Money | None = None
    unconverted: dict[str, Money]
    available: Money | None = None
    over_limit: bool
    over_limit_since: Moment | None = None
    as_of: date
    rating_history: list[RatingChangePublic]
    flag_history: list[FlagChangePublic]


class ChargeRecorded(BaseModel):
    charge: ChargePublic
    credit: CreditPublic


class PaymentRecorded(BaseModel):
    payment: PaymentPublic
    credit: CreditPublic


class PeopleErased(BaseModel):
    organisation_id: str
    billing_contacts_removed: int
    people_unlinked: int


class OrganisationPeople(BaseModel):
    """The personal data an organisation record holds: its billing contacts and the customers who book for it."""

    organisation_id: str
    billing_contacts: list[BillingContactPublic]
    people: list[MemberPublic]


# --- reports --------------------------------------------------------------------------------------------------


class SourceRow(BaseModel):
    source: str
    customers: int
    booked: int = Field(description="of them, customers with at least one completed booking")
    conversion: float | None = Field(default=None, description="booked / customers")
    value: Money = Field(description="their completed bookings, in `currency`")
    unconverted: dict[str, Money] = Field(description="booking amounts in currencies without a rate, per currency")


class AcquisitionReport(BaseModel):
    start: date
    end: date
    currency: str
    sources: list[SourceRow]


class Kpis(BaseModel):
    """Customer KPIs of the period [start, end) (business time zone); see services/profile/README.md for definitions.
    Money in `currency` (converted at the configured rates); amounts without a rate are in `unconverted`."""

    start: date
    end: date
    previous_start: date
    segment_id: str | None = None
    currency: str
    active_customers: int
    previous_active_customers: int
    retention_rate: float | None = None
    churn_rate: float | None = None
    repeat_purchase_rate: float | None = None
    average_customer_value: Money | None = None
    lifetime_value: Money | None = None
    new_customers: int
    returning_customers: int
    referral_share: float | None = None
    unconverted: dict[str, Money] = Field(description="the period's booking amounts without a rate, per currency")
    lifetime_unconverted: dict[str, Money] = Field(description="the same for the lifetime value")
