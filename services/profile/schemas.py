"""Request and response shapes of the profile API (the tables are in models.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from shared.fields import Day, Flag, Real, Whole
from services.profile import normalise

ChannelName = Literal["phone", "sms", "email", "app-push", "wechat"]
Purpose = Literal["service", "marketing", "surveys", "profiling"]
ConsentStatus = Literal["granted", "denied", "revoked"]
CHANNELS: tuple[str, ...] = ("phone", "sms", "email", "app-push", "wechat")
PURPOSES: tuple[str, ...] = ("service", "marketing", "surveys", "profiling")


def _phone(value: str) -> str:
    try:
        return normalise.phone(value)
    except normalise.InvalidContact as exc:
        raise ValueError(str(exc)) from None


def _email(value: str) -> str:
    try:
        return normalise.email(value)
    except normalise.InvalidContact as exc:
        raise ValueError(str(exc)) from None


Phone = Annotated[str, Field(max_length=40), AfterValidator(_phone)]
Email = Annotated[str, Field(max_length=320), AfterValidator(_email)]
ShortText = Annotated[str, Field(min_length=1, max_length=100)]
AcquisitionSource = Literal["referral", "advertising", "ota", "walk-in", "partner-agency", "franchise-store", "event"]
AcquisitionDetail = Annotated[str, Field(min_length=1, max_length=200, description="which OTA, partner, event …")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Address(Strict):
    country: str | None = Field(default="CN", max_length=60)
    province: str | None = Field(default=None, max_length=60)
    city: str | None = Field(default=None, max_length=60)
    district: str | None = Field(default=None, max_length=60)
    line: str | None = Field(default=None, max_length=300)
    postcode: str | None = Field(default=None, max_length=20)


class Preferences(Strict):
    destinations: list[ShortText] = Field(default_factory=list, max_length=50)
    interests: list[ShortText] = Field(default_factory=list, max_length=50,
                                       description="nature, history, culture, beach, food, family …")
    transport: list[ShortText] = Field(default_factory=list, max_length=20)
    accommodation: list[ShortText] = Field(default_factory=list, max_length=20)
    budget_band: Literal["economy", "standard", "premium", "luxury"] | None = None
    dietary: list[ShortText] = Field(default_factory=list, max_length=20)
    accessibility: list[ShortText] = Field(default_factory=list, max_length=20)


class ExternalRef(Strict):
    source: str = Field(min_length=1, max_length=50, description="booking-site, app, call-centre, store, …")
    id: str = Field(min_length=1, max_length=200)


class ConsentIn(Strict):
    channel: ChannelName
    purpose: Purpose
    status: ConsentStatus
    source: str | None = Field(default=None, max_length=100)


def _past(value: Day | None) -> date | None:
    if value is not None and (value > date.today() or value.year < 1900):
        raise ValueError("birth date must be in the past and after 1900")
    return value


class CustomerFields(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200, description="kept whole: 张伟, 欧阳明月")
    gender: Literal["female", "male", "other", "unknown"] | None = None
    birth_date: Annotated[Day | None, AfterValidator(_past)] = None
    occupation: str | None = Field(default=None, max_length=200)
    kind: Literal["individual", "family", "organisation"] = "individual"
    phones: list[Phone] = Field(default_factory=list, max_length=10)
    emails: list[Email] = Field(default_factory=list, max_length=10)
    address: Address | None = None
    preferred_channel: ChannelName | None = None
    preferred_language: str | None = Field(default=None, max_length=20, examples=["zh-CN"])
    preferences: Preferences = Field(default_factory=Preferences)
    tags: list[ShortText] = Field(default_factory=list, max_length=50)
    notes: str | None = Field(default=None, max_length=4000)
    external_ids: list[ExternalRef] = Field(default_factory=list, max_length=20)
    acquisition_source: AcquisitionSource | None = Field(default=None, description="how the customer came")
    acquisition_detail: AcquisitionDetail | None = None


class CustomerCreate(CustomerFields):
    consents: list[ConsentIn] = Field(default_factory=list)


class CustomerResolve(CustomerCreate):
    """Find by external id, normalised phone or email (in that order), or create when `create` is true."""

    create: Flag = True


class CustomerPatch(Strict):
    """Fields present replace the stored ones (lists too); external ids are added."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    gender: Literal["female", "male", "other", "unknown"] | None = None
    birth_date: Annotated[Day | None, AfterValidator(_past)] = None
    occupation: str | None = Field(default=None, max_length=200)
    kind: Literal["individual", "family", "organisation"] | None = None
    phones: list[Phone] | None = Field(default=None, max_length=10)
    emails: list[Email] | None = Field(default=None, max_length=10)
    address: Address | None = None
    preferred_channel: ChannelName | None = None
    preferred_language: str | None = Field(default=None, max_length=20)
    preferences: Preferences | None = None
    tags: list[ShortText] | None = Field(default=None, max_length=50)
    notes: str | None = Field(default=None, max_length=4000)
    external_ids: list[ExternalRef] | None = Field(default=None, max_length=20)
    acquisition_source: AcquisitionSource | None = None
    acquisition_detail: AcquisitionDetail | None = None


class ConsentChanges(Strict):
    changes: list[ConsentIn] = Field(min_length=1, max_length=20)


class MergeIn(Strict):
    merged_ids: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(min_length=1, max_length=20)
    reason: str = Field(min_length=1, max_length=500)


Op = Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "exists"]
SEGMENT_FIELDS = (
    "kind", "gender", "age", "occupation", "country", "province", "city", "preferred_language", "tags",
    "interests", "destinations", "budget_band", "tier", "points_balance", "value_class", "quadrant",
    "repeat_status", "loyalty_status", "r_score", "f_score", "m_score", "frequency", "monetary",
    "recency_days", "lifetime_value", "churn_score", "at_risk", "last_nps", "last_csat", "open_complaints",
    "booked_destinations", "booked_tags",
)


class Rule(Strict):
    field: Literal[SEGMENT_FIELDS]  # type: ignore[valid-type]
    op: Op
    value: Any = None


class SegmentIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    match: Literal["all", "any"] = "all"
    rules: list[Rule] = Field(min_length=1, max_length=30)


CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
Rate = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=8)]


class Festival(Strict):
    """A festival greeted by a care task (节日问候); lunar festivals move, so each year's date is given."""

    name: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9-]*$", examples=["spring-festival"])
    date: Day = Field(examples=["2027-02-06"])


class ValueConfig(Strict):
    value_class_thresholds: list[Real] = Field(
        default=[0.5, 0.8, 0.95], min_length=3, max_length=3,
        description="cumulative value share ending most-valuable, key, ordinary")
    churn_threshold: Real = Field(default=0.6, gt=0, le=1)
    quiet_hours: list[Whole] = Field(default=[21, 9], min_length=2, max_length=2,
                                   description="local hours [start, end) with no care messages")
    post_trip_days: Whole = Field(default=3, ge=0, le=60)
    exchange_rates: dict[CurrencyCode, Rate] = Field(
        default_factory=dict, examples=[{"USD": "7.10"}],
        description="units of the business currency (TOURCRM_CURRENCY) per unit of each other currency; bookings in "
                    "a currency without a rate are left out of the monetary value and reported as `unconverted`")

    festivals: list[Festival] = Field(default_factory=list, max_length=50, examples=[[
        {"name": "spring-festival", "date": "2027-02-06"}, {"name": "mid-autumn", "date": "2027-09-15"}]],
        description="festival greetings: a care task for every active customer, due at 09:00 on the day")
    lapse_after_days: Whole = Field(default=365, ge=30, le=3650,
                                    description="a customer without a booking for this long counts as lost")

    @field_validator("value_class_thresholds")
    @classmethod
    def _ordered(cls, v: list[float]) -> list[float]:
        if not (0 < v[0] < v[1] < v[2] <= 1):
            raise ValueError("thresholds must rise within (0, 1]")
        return v

    @field_validator("quiet_hours")
    @classmethod
    def _hours(cls, v: list[int]) -> list[int]:
        if not all(0 <= h <= 23 for h in v):
            raise ValueError("hours are 0..23")
        return v


BATCH_LIMIT = 1000


class BookingBatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(max_length=50, description="booking-completed or booking-cancelled")
    data: dict[str, Any] = Field(description="the event's data, as the single ingest takes it; checked item by item")


class BookingBatch(BaseModel):
    """Up to 1,000 booking events in one request (a booking backend catching up, a nightly export)."""

    model_config = ConfigDict(extra="forbid")
    items: list[BookingBatchItem] = Field(min_length=1, max_length=BATCH_LIMIT)


class BatchItemResult(BaseModel):
    index: int = Field(description="the item's place in the request, from 0")
    status: Literal["accepted", "rejected"]
    event_id: str | None = Field(default=None, description="the event put on the bus, when accepted")
    errors: list[dict[str, str]] = Field(default_factory=list, description="why not: field (items.N.…) and message")


class BatchAccepted(BaseModel):
    """What became of each item: the accepted ones were put on the bus in one transaction, the others not."""

    accepted: int
    rejected: int
    items: list[BatchItemResult]
