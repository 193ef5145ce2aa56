"""Domain events: the CloudEvents 1.0 envelope and one typed model per event of the catalog.

The registry `EVENT_TYPES` maps the short type name (``booking-completed``) to its
data model; ``dataschema`` carries the version (``tourcrm:booking-completed:1``).
Each event travels on the topic of the domain that produces it, keyed by customer id.

Longer than the ~400 lines a module keeps to, on purpose: it is the catalog, some thirty small models in
the order of docs/events.md, and the one place a reader looks an event up; split by producer it would
scatter the contract every service shares.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from dataclasses import dataclass
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

import pycountry
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from shared.contract import schema_errors
from shared.logging import correlation_id

BOOKINGS = "tourcrm.bookings"
PROFILE = "tourcrm.profile"
COMPLAINTS = "tourcrm.complaints"
LOYALTY = "tourcrm.loyalty"
FEEDBACK = "tourcrm.feedback"
TOPICS = (BOOKINGS, PROFILE, COMPLAINTS, LOYALTY, FEEDBACK)


D = TypeVar("D", bound="EventData")


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


class Envelope(BaseModel):
    """A CloudEvents 1.0 event in JSON structured mode."""

    model_config = ConfigDict(extra="allow")
    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1, max_length=200)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    subject: str | None = None
    time: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    datacontenttype: str = "application/json"
    dataschema: str | None = None
    correlationid: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def topic(self) -> str:
        return EVENT_TYPES[self.type].topic

    def typed(self) -> EventData:
        """The validated data model of this event."""
        return parse_data(self.type, self.data, self.dataschema)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


def new_event(data: EventData, *, source: str, subject: str | None = None, event_id: str | None = None) -> Envelope:
    """Wrap typed data in an envelope, carrying the current correlation id."""
    return Envelope(
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=data.type,
        subject=subject,
        dataschema=data.dataschema(),
        correlationid=correlation_id.get() or None,
        data=data.model_dump(mode="json"),
    )


def parse_data(event_type: str, data: dict[str, Any], dataschema: str | None = None) -> EventData:
    model = EVENT_TYPES.get(event_type)
    if model is None:
        raise EventError(f"unknown event type {event_type!r}")
    if dataschema is not None and dataschema != model.dataschema():
        older = {f"tourcrm:{event_type}:{v}": fields for v, fields in model.dropped_since.items()}
        if dataschema not in older:
            raise EventError(f"unsupported dataschema {dataschema!r} for {event_type}; expected {model.dataschema()!r}")
        data = {name: value for name, value in data.items() if name not in older[dataschema]}  # records written
        # before the personal data left the bus still apply; what they carried beyond that is not kept
    try:
        typed = model.model_validate(data)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'data'}: {e['msg']}" for e in exc.errors())
        raise EventError(f"{event_type} data does not fit its schema: {fields}") from exc
    if errors := schema_errors(model, data):  # what the model's lax mode coerces, the published schema refuses
        raise EventError(f"{event_type} data does not fit its schema: {'; '.join(errors)}")
    return typed


def decode(value: bytes | str) -> tuple[Envelope, EventData]:
    """Bytes of a record → envelope and typed data, or EventError saying why not."""
    envelope = decode_envelope(value)
    return envelope, envelope.typed()


def decode_envelope(value: bytes | str) -> Envelope:
    """Bytes of a record → a CloudEvents envelope of a known type (data not yet validated), or EventError."""
    return envelope_of(lambda: Envelope.model_validate_json(value))  # parses and validates in one pass


def envelope_of(validate: Callable[[], Envelope]) -> Envelope:
    """The envelope `validate()` makes (from JSON, or from binary-mode attributes), if of a known type; else EventError."""
    try:
        envelope = validate()
    except ValidationError as exc:
        errors = exc.errors()
        if errors[0]["type"] == "json_invalid":
            raise EventError(f"record is not JSON: {errors[0]['msg']}") from exc
        if not errors[0]["loc"]:
            raise EventError("record is not a JSON object") from exc
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        raise EventError(f"not a CloudEvents 1.0 envelope: {fields}") from exc
    if envelope.type not in EVENT_TYPES:
        raise EventError(f"unknown event type {envelope.type!r}")
    return envelope


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


# --- complaints -------------------------------------------------------------------------------

Severity = Literal["low", "medium", "high", "critical"]


class Compensation(BaseModel):
    """An agreed remedy of a complaint: money as a decimal with its currency, goodwill as points."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["refund", "partial_refund", "voucher", "service_redone", "apology", "goodwill_points"]
    amount: Money | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    points: int = Field(default=0, ge=0)


class ComplaintFiled(EventData):
    type: ClassVar[str] = "complaint-filed"
    topic: ClassVar[str] = COMPLAINTS
    complaint_id: str
    customer_id: CustomerId
    category: str
    severity: Severity
    booking_id: str | None = None
    channel: str | None = None
    filed_at: datetime
    source: str | None = Field(default=None, description="customer, survey (service recovery) or staff")
    product_id: str | None = None
    trip_phase: Literal["before", "during", "after"] | None = None


class ComplaintEscalated(EventData):
    type: ClassVar[str] = "complaint-escalated"
    topic: ClassVar[str] = COMPLAINTS
    complaint_id: str
    customer_id: CustomerId
    severity: Severity
    level: int = Field(ge=1)
    reason: str
    clock: Literal["first_response", "resolution"] | None = Field(default=None, description="the SLA clock breached")
    escalated_to: Literal["team_lead", "manager"] | None = None


class ComplaintResolved(EventData):
    type: ClassVar[str] = "complaint-resolved"
    topic: ClassVar[str] = COMPLAINTS
    complaint_id: str
    customer_id: CustomerId
    category: str
    severity: Severity
    sla_met: bool
    compensation_points: int = Field(default=0, ge=0)
    resolved_at: datetime
    root_cause: str | None = Field(default=None, description="supplier, guide, internal_process, product_design, "
                                   "customer_expectation or force_majeure")
    compensation: list[Compensation] = Field(default_factory=list, description="the agreed remedies")


class ComplaintClosed(EventData):
    type: ClassVar[str] = "complaint-closed"
    topic: ClassVar[str] = COMPLAINTS
    complaint_id: str
    customer_id: CustomerId
    satisfied: bool | None = None
    closed_at: datetime


class ComplaintReopened(EventData):
    type: ClassVar[str] = "complaint-reopened"
    topic: ClassVar[str] = COMPLAINTS
    complaint_id: str
    customer_id: CustomerId
    reason: str
    compensation_withdrawn: bool = False
    reopened_at: datetime


class CrisisDeclared(EventData):
    type: ClassVar[str] = "crisis-declared"
    topic: ClassVar[str] = COMPLAINTS
    crisis_id: str
    customer_id: CustomerId | None = Field(default=None, description="not about one customer; key is the crisis id")
    scope: str = Field(description="product, destination or category the spike is about")
    complaints: int = Field(ge=1)
    window_minutes: int = Field(ge=1)
    declared_at: datetime


class CrisisNotice(EventData):
    type: ClassVar[str] = "crisis-notice"
    topic: ClassVar[str] = COMPLAINTS
    crisis_id: str
    customer_id: CustomerId
    channel: str = Field(description="a channel the customer consented to for service messages")
    language: str = "zh-CN"
    message: str


# --- loyalty ----------------------------------------------------------------------------------

Tier = Literal["regular", "silver", "gold", "platinum"]


class MemberEnrolled(EventData):
    type: ClassVar[str] = "member-enrolled"
    topic: ClassVar[str] = LOYALTY
    customer_id: CustomerId
    member_type: Literal["individual", "family", "enterprise"] = "individual"
    tier: Tier = "regular"
    enrolled_at: datetime


class _PointsMovement(EventData):
    customer_id: CustomerId
    points: int
    balance: int
    entry_id: str
    cause: str | None = Field(default=None, description="booking id, complaint id, campaign or reason")


class PointsEarned(_PointsMovement):
    type: ClassVar[str] = "points-earned"
    topic: ClassVar[str] = LOYALTY
    kind: Literal["earn", "bonus", "goodwill", "adjust", "referral", "survey"] = "earn"
    referee_id: CustomerId | None = Field(default=None, description="referral points: the customer who was referred")


class PointsRedeemed(_PointsMovement):
    type: ClassVar[str] = "points-redeemed"
    topic: ClassVar[str] = LOYALTY
    redemption_id: str


class PointsReversed(_PointsMovement):
    type: ClassVar[str] = "points-reversed"
    topic: ClassVar[str] = LOYALTY


class PointsExpired(_PointsMovement):
    type: ClassVar[str] = "points-expired"
    topic: ClassVar[str] = LOYALTY


class TierChanged(EventData):
    type: ClassVar[str] = "tier-changed"
    topic: ClassVar[str] = LOYALTY
    customer_id: CustomerId
    old_tier: Tier
    new_tier: Tier
    reason: str
    changed_at: datetime


class RewardRedeemed(EventData):
    type: ClassVar[str] = "reward-redeemed"
    topic: ClassVar[str] = LOYALTY
    customer_id: CustomerId
    reward_id: str
    redemption_id: str
    points: int = Field(ge=0)


class WinBackOffered(EventData):
    type: ClassVar[str] = "win-back-offered"
    topic: ClassVar[str] = LOYALTY
    customer_id: CustomerId
    offer_id: str
    points: int = Field(ge=0, description="bonus points on the next booking")
    expires_at: datetime


class PointsExpiring(EventData):
    type: ClassVar[str] = "points-expiring"
    topic: ClassVar[str] = LOYALTY
    customer_id: CustomerId
    points: int = Field(gt=0)
    expires_on: date


class TierDowngradeWarning(EventData):
    type: ClassVar[str] = "tier-downgrade-warning"
    topic: ClassVar[str] = LOYALTY
    customer_id: CustomerId
    current_tier: Tier
    next_tier: Tier
    review_on: date
    missing: str = Field(description="what the member still needs to keep the tier")


# --- feedback ---------------------------------------------------------------------------------


class FeedbackSubmitted(EventData):
    type: ClassVar[str] = "feedback-submitted"
    topic: ClassVar[str] = FEEDBACK
    response_id: str
    survey_id: str
    customer_id: CustomerId
    booking_id: str | None = None
    nps: int | None = Field(default=None, ge=0, le=10)
    csat: float | None = Field(default=None, ge=1, le=5)
    sentiment: float | None = Field(default=None, ge=-1, le=1)
    submitted_at: datetime
    kind: Literal["post-trip", "follow-up", "member"] = Field(default="post-trip", description="the survey's kind")
    complaint_id: str | None = Field(default=None, description="the complaint a follow-up answers")
    sentiment_label: Literal["positive", "neutral", "negative"] | None = None
    csi: float | None = Field(default=None, ge=0, le=100, description="this answer's satisfaction index")
    product_id: str | None = None
    detractor: bool = False


class DetractorDetected(EventData):
    """An unhappy answer. Carries scores and booking context only, never the comment (personal data in free
    text would stay in Kafka's log after an erasure)."""

    type: ClassVar[str] = "detractor-detected"
    version: ClassVar[int] = 2
    dropped_since: ClassVar[dict[int, frozenset[str]]] = {1: frozenset({"comment_excerpt", "answers"})}
    topic: ClassVar[str] = FEEDBACK
    response_id: str
    customer_id: CustomerId
    booking_id: str | None = None
    nps: int | None = Field(default=None, ge=0, le=10, description="the NPS answer (a detractor's is 0–6); None when the "
                            "answer was unhappy by CSAT or comment only")
    reasons: list[Literal["nps", "csat", "comment"]] = Field(default_factory=list)
    csat: int | None = Field(default=None, ge=1, le=5)
    sentiment: float | None = Field(default=None, ge=-1, le=1)
    answers: dict[str, Annotated[int, Field(ge=0, le=10)]] = Field(default_factory=dict, max_length=100, description="the scored answers (NPS, CSAT, ratings) by "
                                    "question id; free text never travels: complaints reads the comment from "
                                    "feedback's API by response id")
    kind: Literal["post-trip", "member"] = Field(default="post-trip", description="an unhappy complaint follow-up is "
                                                 "not a detractor: feedback-submitted with its complaint id tells complaints")
    product: dict[str, Any] | None = Field(default=None, description="booking context: product id, name, kind, "
                                           "destination, guide, supplier, channel")


class SurveyInvited(EventData):
    type: ClassVar[str] = "survey-invited"
    topic: ClassVar[str] = FEEDBACK
    survey_id: str = Field(description="the invitation's id")
    customer_id: CustomerId
    kind: Literal["post-trip", "follow-up", "member"]
    channel: str
    language: str = "zh-CN"
    link: str
    send_at: datetime
    token: str | None = Field(default=None, description="the single-use token the website or app renders")
    template: str | None = None
    booking_id: str | None = None
    complaint_id: str | None = None
    expires_at: datetime | None = None
    reminder: bool = False


# --- data rights ------------------------------------------------------------------------------


class CustomerDataErased(EventData):
    type: ClassVar[str] = "customer-data-erased"
    topic: ClassVar[str] = PROFILE
    service: str
    customer_id: CustomerId
    request_id: str
    erased_at: datetime


EVENT_TYPES: dict[str, type[EventData]] = {
    model.type: model
    for model in (
        BookingCompleted,
        BookingCancelled,
        CustomerRegistered,
        CustomerUpdated,
        ConsentChanged,
        CustomersMerged,
        CustomerErased,
        CustomerAtRisk,
        OrganisationRegistered,
        SegmentMembershipChanged,
        CareTaskDue,
        ComplaintFiled,
        ComplaintEscalated,
        ComplaintResolved,
        ComplaintClosed,
        ComplaintReopened,
        CrisisDeclared,
        CrisisNotice,
        MemberEnrolled,
        PointsEarned,
        PointsRedeemed,
        PointsReversed,
        PointsExpired,
        TierChanged,
        RewardRedeemed,
        WinBackOffered,
        PointsExpiring,
        TierDowngradeWarning,
        FeedbackSubmitted,
        DetractorDetected,
        SurveyInvited,
        CustomerDataErased,
    )
}


@dataclass(frozen=True, slots=True)
class Event(Generic[D]):
    """What a handler receives: the envelope and its validated data."""

    envelope: Envelope
    data: D

    @property
    def id(self) -> str:
        return self.envelope.id

    @property
    def type(self) -> str:
        return self.envelope.type

    @property
    def time(self) -> datetime:
        return self.envelope.time
