"""The base of every event's data, the value types events share, and the events of bookings and profile
(the catalog continues in shared.event_catalog; shared.events has the envelope and re-exports both)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

import pycountry
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

BOOKINGS = "tourcrm.bookings"
PROFILE = "tourcrm.profile"
COMPLAINTS = "tourcrm.complaints"
LOYALTY = "tourcrm.loyalty"
FEEDBACK = "tourcrm.feedback"
TOPICS = (BOOKINGS, PROFILE, COMPLAINTS, LOYALTY, FEEDBACK)


class EventError(ValueError):
    """A record that cannot become an event: bad JSON, unknown type, or data that does not fit its schema."""


class EventData(BaseModel):
    """Base of every event's ``data``; subclasses name their type, version and topic."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: ClassVar[str]
    version: ClassVar[int] = 1
    # older versions still read: version → the fields it had that this one dropped (ignored, never kept)
    dropped_since: ClassVar[dict[int, frozenset[str]]] = {}
    topic: ClassVar[str]

    @classmethod
    def dataschema(cls) -> str:
        return f"tourcrm:{cls.type}:{cls.version}"

    def implausible(self, now: datetime) -> tuple[str, str] | None:
        """(field, why) when the data cannot be true at `now` (e.g. a booking completed next year): the
        door refuses it (HTTP 422, a parked record). Rules that need no clock are validators."""
        return None


# --- shared value types ---------------------------------------------------------------------


class Product(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=300)
    kind: str = Field(min_length=1, max_length=50, description="tour, hotel, flight, cruise, ticket, package …")
    destination: str | None = Field(default=None, max_length=200)
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list, max_length=50)


CustomerId = str
Money = Decimal

# ISO 4217 codes of money: not the codes for testing, "no currency", precious metals and units of account.
NOT_MONEY = {"XXX", "XTS", "XAU", "XAG", "XPD", "XPT", "XDR", "XBA", "XBB", "XBC", "XBD", "XSU", "XUA"}
CURRENCIES = frozenset(c.alpha_3 for c in pycountry.currencies) - NOT_MONEY


def _known_currency(code: str) -> str:
    if code not in CURRENCIES:
        raise ValueError(f"{code} is not an ISO 4217 currency")
    return code


Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$"), AfterValidator(_known_currency)]
BookingAmount = Annotated[Money, Field(ge=0, le=Decimal("100000000"), max_digits=14, decimal_places=2,
                                       description="at most a hundred million: no booking costs more")]
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=timezone.utc), datetime(2100, 1, 1, tzinfo=timezone.utc)
CLOCK_SKEW = timedelta(minutes=5)  # how far in the future a producer's clock may run


def _in_business_range(moment: datetime) -> datetime:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    if not EARLIEST <= aware < LATEST:
        raise ValueError("must be between 2000 and 2100")
    return moment


def _trip_date(day: date) -> date:
    if not EARLIEST.date() <= day < LATEST.date():
        raise ValueError("must be between 2000 and 2100")
    return day


BusinessTime = Annotated[datetime, AfterValidator(_in_business_range)]
TripDate = Annotated[date, AfterValidator(_trip_date)]
Channel = Literal["web", "app", "call-centre", "store", "agent", "other"]


# --- bookings (external producers and the profile ingest) -------------------------------------


class BookingCompleted(EventData):
    type: ClassVar[str] = "booking-completed"
    topic: ClassVar[str] = BOOKINGS
    booking_id: str = Field(min_length=1, max_length=100)
    customer_id: CustomerId = Field(min_length=1, max_length=100)
    channel: Channel = "web"
    product: Product
    amount: BookingAmount
    currency: Currency = "CNY"
    party_size: int = Field(default=1, ge=1, le=1000)
    travel_start: TripDate | None = None
    travel_end: TripDate | None = None
    completed_at: BusinessTime

    @field_validator("travel_end")
    @classmethod
    def _trip_ends_after_it_starts(cls, end: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("travel_start")
        if start and end and end < start:
            raise ValueError("is before travel_start")
        return end

    def implausible(self, now: datetime) -> tuple[str, str] | None:
        if self.completed_at > now + CLOCK_SKEW:
            return "completed_at", "is in the future"
        return None


class BookingCancelled(EventData):
    type: ClassVar[str] = "booking-cancelled"
    topic: ClassVar[str] = BOOKINGS
    booking_id: str = Field(min_length=1, max_length=100)
    customer_id: CustomerId = Field(min_length=1, max_length=100)
    reason: str | None = Field(default=None, max_length=500)
    refunded_amount: BookingAmount | None = None
    currency: Currency = "CNY"
    cancelled_at: BusinessTime | None = None

    def implausible(self, now: datetime) -> tuple[str, str] | None:
        if self.cancelled_at and self.cancelled_at > now + CLOCK_SKEW:
            return "cancelled_at", "is in the future"
        return None


# --- profile ----------------------------------------------------------------------------------


class CustomerRegistered(EventData):
    """A new customer file. No personal data travels (Kafka's log cannot forget a record): a consumer that
    needs a name or contact details asks profile's API (GET /v1/customers/{id}) when it needs them."""

    type: ClassVar[str] = "customer-registered"
    version: ClassVar[int] = 2
    dropped_since: ClassVar[dict[int, frozenset[str]]] = {1: frozenset({"name", "phones", "emails", "birth_date"})}
    topic: ClassVar[str] = PROFILE
    customer_id: CustomerId
    kind: Literal["individual", "family", "organisation"] = "individual"
    preferred_language: str | None = Field(default=None, max_length=20)


class CustomerUpdated(EventData):
    """A changed customer file: which fields changed, never their values (but the preferred language, the
    language of the customer's surveys and messages); consumers ask profile's API for contact data."""

    type: ClassVar[str] = "customer-updated"
    version: ClassVar[int] = 2
    dropped_since: ClassVar[dict[int, frozenset[str]]] = {1: frozenset({"name", "phones", "emails", "birth_date"})}
    topic: ClassVar[str] = PROFILE
    customer_id: CustomerId
    changed: list[str] = Field(default_factory=list, description="names of the fields that changed")
    preferred_language: str | None = Field(default=None, max_length=20)


class ConsentChanged(EventData):
    type: ClassVar[str] = "consent-changed"
    topic: ClassVar[str] = PROFILE
    customer_id: CustomerId
    channel: Literal["phone", "sms", "email", "app-push", "wechat"]
    purpose: Literal["service", "marketing", "surveys", "profiling"]
    status: Literal["granted", "denied", "revoked"]
    source: str | None = None
    changed_at: datetime


class CustomersMerged(EventData):
    """Files folded into one. The staff's free-text reason stays in profile's merge record, off the bus."""

    type: ClassVar[str] = "customers-merged"
    version: ClassVar[int] = 2
    dropped_since: ClassVar[dict[int, frozenset[str]]] = {1: frozenset({"reason"})}
    topic: ClassVar[str] = PROFILE
    customer_id: CustomerId = Field(description="the surviving customer")
    merged_ids: list[CustomerId] = Field(min_length=1)


class CustomerErased(EventData):
    type: ClassVar[str] = "customer-erased"
    topic: ClassVar[str] = PROFILE
    customer_id: CustomerId
    request_id: str


class CustomerAtRisk(EventData):
    type: ClassVar[str] = "customer-at-risk"
    topic: ClassVar[str] = PROFILE
    customer_id: CustomerId
    score: float = Field(ge=0, le=1)
    reasons: list[str] = Field(default_factory=list)


class OrganisationRegistered(EventData):
    """A key account (企业客户) profile keeps; the company record only, never the people who book for it."""

    type: ClassVar[str] = "organisation-registered"
    topic: ClassVar[str] = PROFILE
    organisation_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=300)
    industry: str | None = Field(default=None, max_length=100)
    registered_at: datetime


class SegmentMembershipChanged(EventData):
    type: ClassVar[str] = "segment-membership-changed"
    topic: ClassVar[str] = PROFILE
    customer_id: CustomerId
    segment_id: str
    segment: str = Field(description="the segment's name")
    change: Literal["joined", "left"]
    changed_at: datetime


class CareTaskDue(EventData):
    type: ClassVar[str] = "care-task-due"
    topic: ClassVar[str] = PROFILE
    customer_id: CustomerId
    task_id: str
    kind: Literal["birthday", "post-trip-thanks", "anniversary", "win-back", "festival-greeting",
                  "points-expiring", "tier-downgrade-warning", "return-visit"]
    channel: str
    language: str = "zh-CN"
    due_at: datetime
