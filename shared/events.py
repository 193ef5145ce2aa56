"""Domain events: the CloudEvents 1.0 envelope and one typed model per event of the catalog.

The registry `EVENT_TYPES` maps the short type name (``booking-completed``) to its
data model; ``dataschema`` carries the version (``tourcrm:booking-completed:1``).
Each event travels on the topic of the domain that produces it, keyed by customer id.

The models live in `shared.event_data` (the base, shared value types, bookings and profile) and
`shared.event_catalog` (complaints, loyalty, feedback, data rights), in the order of docs/events.md; they are
imported from here, the one place a reader and every service look an event up.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.contract import schema_errors
from shared.logging import correlation_id
from shared.event_data import (  # noqa: F401 - re-exported: shared.events is where the catalog is imported from
    BOOKINGS, PROFILE, COMPLAINTS, LOYALTY, FEEDBACK, TOPICS, EventError, EventData, Product, CustomerId, Money,
    NOT_MONEY, CURRENCIES, _known_currency, Currency, BookingAmount, EARLIEST, LATEST, CLOCK_SKEW,
    _in_business_range, _trip_date, BusinessTime, TripDate, Channel, BookingCompleted, BookingCancelled,
    CustomerRegistered, CustomerUpdated, ConsentChanged, CustomersMerged, CustomerErased, CustomerAtRisk,
    OrganisationRegistered, SegmentMembershipChanged, CareTaskDue,
)
from shared.event_catalog import (  # noqa: F401 - re-exported: shared.events is where the catalog is imported from
    Severity, Compensation, ComplaintFiled, ComplaintEscalated, ComplaintResolved, ComplaintClosed,
    ComplaintReopened, CrisisDeclared, CrisisNotice, Tier, MemberEnrolled, _PointsMovement, PointsEarned,
    PointsRedeemed, PointsReversed, PointsExpired, TierChanged, RewardRedeemed, WinBackOffered, PointsExpiring,
    TierDowngradeWarning, FeedbackSubmitted, DetractorDetected, SurveyInvited, CustomerDataErased,
)

D = TypeVar("D", bound="EventData")


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
