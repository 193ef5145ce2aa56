"""What the profile API answers: one pydantic Public model per body (so /openapi.json documents it), and the
functions that shape them from rows. Times are aware UTC, written as ISO 8601 with `+00:00`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from services.profile import analytics
from services.profile.contact_public import ContactPublic, ContactsSummary, LapsePublic, LeadPublic, WorkItem
from services.profile.contact_public import WorkItem as CareTaskPublic, work_item as care_public  # noqa: F401
from services.profile.models import (
    Booking, ComplaintView, Consent, ConsentHistory, Customer, CustomerValue, MergeRecord, Product, Segment,
)
from services.profile.wire import Moment, Money

T = TypeVar("T")


class ExternalRefPublic(BaseModel):
    source: str
    id: str


class CustomerPublic(BaseModel):
    """The customer file; its ETag is `etag` (`"v<version>"`)."""

    id: str
    status: str
    merged_into: str | None = None
    origin: str
    name: str | None = None
    gender: str | None = None
    birth_date: date | None = None
    occupation: str | None = None
    kind: str
    phones: list[str]
    emails: list[str]
    address: dict[str, Any] | None = None
    preferred_channel: str | None = None
    preferred_language: str | None = None
    preferences: dict[str, Any]
    tags: list[str]
    notes: str | None = None
    external_ids: list[ExternalRefPublic]
    acquisition_source: str | None = None
    acquisition_detail: str | None = None
    version: int
    etag: str
    created_at: Moment
    updated_at: Moment


class CustomerCreated(CustomerPublic):
    possible_duplicates: list[str]


class CustomerResolved(CustomerCreated):
    matched_by: str | None = None
    created: bool


class MergePublic(BaseModel):
    id: str
    merged_ids: list[str]
    reason: str | None = None
    merged_by: str
    merged_at: Moment


class CustomerMerged(CustomerPublic):
    merge: MergePublic


class DuplicateGroup(BaseModel):
    customer_ids: list[str]
    reasons: list[str]


class Items(BaseModel, Generic[T]):
    """A whole list (not paged)."""

    items: list[T]


class ConsentPublic(BaseModel):
    channel: str
    purpose: str
    status: str
    source: str | None = None
    changed_at: Moment


class Consents(BaseModel):
    customer_id: str
    items: list[ConsentPublic]


class ProductPublic(BaseModel):
    id: str
    name: str | None = None
    kind: str | None = None
    destination: str | None = None
    tags: list[str] = []


class BookingPublic(BaseModel):
    booking_id: str
    customer_id: str
    channel: str
    product: ProductPublic
    amount: Money
    currency: str
    party_size: int
    travel_start: date | None = None
    travel_end: date | None = None
    completed_at: Moment
    status: str
    cancelled_at: Moment | None = None
    refunded_amount: Money | None = None
    refund_currency: str | None = None


class Rfm(BaseModel):
    r: int | None = None
    f: int | None = None
    m: int | None = None


class Churn(BaseModel):
    score: float
    reasons: list[str]
    at_risk: bool
    at_risk_since: Moment | None = None


class ValuePublic(BaseModel):
    """RFM, lifetime value, value class, quadrant and churn. Money counts in `currency` (the business currency);
    `unconverted` holds booking amounts in currencies without a configured exchange rate, left out of it."""

    customer_id: str
    currency: str
    recency_days: int | None = None
    frequency: int
    monetary: Money
    unconverted: dict[str, Money]
    rfm: Rfm
    rhythm_days: float | None = None
    first_booking_at: Moment | None = None
    last_booking_at: Moment | None = None
    lifetime_value: Money
    repeat_status: str | None = None
    loyalty_status: str | None = None
    value_class: str | None = None
    quadrant: str | None = None
    treatment: str | None = None
    churn: Churn
    computed_at: Moment | None = None


class ComplaintPublic(BaseModel):
    complaint_id: str
    status: str
    category: str | None = None
    severity: str | None = None
    sla_met: bool | None = None
    filed_at: Moment | None = None


class Accepted(BaseModel):
    """The event was validated and put on the bus."""

    event_id: str
    type: str


class SegmentPublic(BaseModel):
    id: str
    name: str
    match: str
    rules: list[dict[str, Any]]
    created_by: str
    created_at: Moment
    size: int | None = None


class SegmentMember(BaseModel):
    customer_id: str


class SegmentContact(BaseModel):
    customer_id: str
    name: str | None = None
    preferred_language: str
    channels: list[str]
    phones: list[str]
    emails: list[str]


class SegmentExport(BaseModel):
    segment_id: str
    purpose: str
    items: list[SegmentContact]
    excluded_without_consent: int


# --- rows → answers -------------------------------------------------------------------------------------


def etag(customer: Customer) -> str:
    return f'"v{customer.version}"'


def customer_public(customer: Customer, contacts: tuple[list[str], list[str]],
                    external_ids: list[dict[str, str]]) -> CustomerPublic:
    phones, emails = contacts
    return CustomerPublic(
        id=customer.id, status=customer.status, merged_into=customer.merged_into, origin=customer.origin,
        name=customer.name, gender=customer.gender, birth_date=customer.birth_date, occupation=customer.occupation,
        kind=customer.kind, phones=phones, emails=emails, address=customer.address,
        preferred_channel=customer.preferred_channel, preferred_language=customer.preferred_language,
        preferences=customer.preferences or {}, tags=customer.tags or [], notes=customer.notes,
        external_ids=[ExternalRefPublic(**e) for e in external_ids], acquisition_source=customer.acquisition_source,
        acquisition_detail=customer.acquisition_detail, version=customer.version, etag=etag(customer),
        created_at=customer.created_at, updated_at=customer.updated_at,
    )


def consent_public(c: Consent | ConsentHistory) -> ConsentPublic:
    return ConsentPublic(channel=c.channel, purpose=c.purpose, status=c.status, source=c.source, changed_at=c.changed_at)


def merge_public(m: MergeRecord) -> MergePublic:
    return MergePublic(id=m.id, merged_ids=m.merged_ids, reason=m.reason, merged_by=m.merged_by, merged_at=m.merged_at)


def product_public(p: Product) -> ProductPublic:
    return ProductPublic(id=p.id, name=p.name, kind=p.kind, destination=p.destination, tags=p.tags)


def booking_public(b: Booking, product: Product | None = None) -> BookingPublic:
    return BookingPublic(
        booking_id=b.booking_id, customer_id=b.customer_id, channel=b.channel,
        product=product_public(product) if product else ProductPublic(id=b.product_id),
        amount=b.amount, currency=b.currency, party_size=b.party_size, travel_start=b.travel_start,
        travel_end=b.travel_end, completed_at=b.completed_at, status=b.status, cancelled_at=b.cancelled_at,
        refunded_amount=b.refunded_amount, refund_currency=b.refund_currency,
    )


def value_public(row: CustomerValue | None, customer_id: str, currency: str) -> ValuePublic:
    row = row or CustomerValue(customer_id=customer_id)
    return ValuePublic(
        customer_id=customer_id, currency=currency, recency_days=row.recency_days, frequency=row.frequency,
        monetary=row.monetary, unconverted={k: Decimal(v) for k, v in sorted((row.unconverted or {}).items())},
        rfm=Rfm(r=row.r_score, f=row.f_score, m=row.m_score), rhythm_days=row.rhythm_days,
        first_booking_at=row.first_booking_at, last_booking_at=row.last_booking_at,
        lifetime_value=row.lifetime_value, repeat_status=row.repeat_status, loyalty_status=row.loyalty_status,
        value_class=row.value_class, quadrant=row.quadrant, treatment=analytics.TREATMENTS.get(row.quadrant or ""),
        churn=Churn(score=row.churn_score, reasons=row.churn_reasons or [], at_risk=row.at_risk,
                    at_risk_since=row.at_risk_since),
        computed_at=row.computed_at,
    )


def complaint_public(c: ComplaintView) -> ComplaintPublic:
    return ComplaintPublic(complaint_id=c.complaint_id, status=c.status, category=c.category, severity=c.severity,
                           sla_met=c.sla_met, filed_at=c.filed_at)


def segment_public(s: Segment, size: int | None = None) -> SegmentPublic:
    return SegmentPublic(id=s.id, name=s.name, match=s.match, rules=s.rules, created_by=s.created_by,
                         created_at=s.created_at, size=size)


# --- the 360 view, recommendations ---------------------------------------------------------------------


class LoyaltySummary(BaseModel):
    tier: str | None = None
    points_balance: int
    expiring_points: int = 0
    expiring_on: date | None = None


class BookingsSummary(BaseModel):
    count: int
    recent: list[BookingPublic]


class ComplaintsSummary(BaseModel):
    open: list[ComplaintPublic]
    total: int


class Satisfaction(BaseModel):
    last_nps: int | None = None
    last_csat: float | None = None
    detractor: bool
    responses: int


class Overview(BaseModel):
    """The 360 view, from profile's own tables and the events it consumed."""

    customer: CustomerPublic
    consents: list[ConsentPublic]
    bookings: BookingsSummary
    loyalty: LoyaltySummary | None = None
    complaints: ComplaintsSummary
    satisfaction: Satisfaction
    value: ValuePublic
    contacts: ContactsSummary


# --- data rights ---------------------------------------------------------------------------------------


class FeedbackPublic(BaseModel):
    response_id: str
    nps: int | None = None
    csat: float | None = None
    submitted_at: Moment


class BillingContactPublic(BaseModel):
    name: str
    phone: str | None = None
    email: str | None = None
    role: str | None = None
    customer_id: str | None = None


class OrganisationLink(BaseModel):
    """A customer's place in an organisation: a person who books for it (`role`), or its billing contact."""

    organisation_id: str
    organisation: str
    role: str | None = None
    billing_contact: BillingContactPublic | None = None


class ProfileExport(BaseModel):
    """All that profile holds about one customer (its part of a data-rights export); `found: false` when nothing."""

    service: str
    customer_id: str
    found: bool
    customer: CustomerPublic | None = None
    consents: list[ConsentPublic] = []
    consent_history: list[ConsentPublic] = []
    bookings: list[BookingPublic] = []
    value: ValuePublic | None = None
    care_tasks: list[WorkItem] = []
    merges: list[MergePublic] = []
    loyalty_view: LoyaltySummary | None = None
    complaints_view: list[ComplaintPublic] = []
    feedback_view: list[FeedbackPublic] = []
    organisations: list[OrganisationLink] = []
    contacts: list[ContactPublic] = []
    leads: list[LeadPublic] = []
    lapse_reason: LapsePublic | None = None


class CustomerExport(BaseModel):
    """Every privacy service's answer about the customer; `complete: false` with `errors` when one did not answer."""

    customer_id: str
    generated_at: Moment
    services: dict[str, dict[str, Any]]
    complete: bool
    errors: dict[str, str]


class ErasureStarted(BaseModel):
    customer_id: str
    request_id: str
    report: str


class ErasureConfirmed(BaseModel):
    service: str
    confirmed: bool
    erased_at: Moment | None = None


class ErasureReport(BaseModel):
    customer_id: str
    request_id: str
    requested_at: Moment
    requested_by: str
    services: list[ErasureConfirmed]
    complete: bool
