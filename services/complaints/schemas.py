"""The API's bodies and answers (the tables are in models.py)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from shared.fields import Day, Flag, Moment
from services.complaints.rules import Category, Channel, RootCause, TripPhase
from services.complaints.workflow import State
from shared.db import aware

Severity = Literal["low", "medium", "high", "critical"]
UtcDatetime = Annotated[Moment, AfterValidator(aware)]  # a time without an offset is read as UTC
Id = Field(min_length=1, max_length=100)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Attachment(Body):
    """A reference to a file kept elsewhere (object store, message attachment)."""

    url: str = Field(min_length=1, max_length=1000)
    name: str | None = Field(default=None, max_length=300)
    content_type: str | None = Field(default=None, max_length=100)


class ComplaintCreate(Body):
    customer_id: str | None = Field(default=None, min_length=1, max_length=100,
                                    description="omitted by a customer-facing key: the signed-in customer")
    channel: Channel
    booking_id: str | None = Field(default=None, max_length=100)
    product_id: str | None = Field(default=None, max_length=100)
    destination: str | None = Field(default=None, max_length=200)
    supplier: str | None = Field(default=None, max_length=200)
    trip_phase: TripPhase
    summary: str = Field(min_length=1, max_length=300, description="what happened, in a line")
    description: str = Field(default="", max_length=20000)
    occurred_at: UtcDatetime | None = None
    attachments: list[Attachment] = Field(default_factory=list, max_length=50)
    category: Category | None = Field(default=None, description="omitted: suggested by the rules")
    severity: Severity | None = None


class ComplaintPatch(Body):
    """An agent's correction of the classification or routing (needs If-Match)."""

    category: Category | None = None
    severity: Severity | None = None
    queue: str | None = Field(default=None, min_length=1, max_length=40)
    assignee: str | None = Field(default=None, min_length=1, max_length=100)
    supplier: str | None = Field(default=None, max_length=200)
    destination: str | None = Field(default=None, max_length=200)


class TransitionIn(Body):
    to: State
    reason: str | None = Field(default=None, min_length=1, max_length=2000,
                               description="required for a reopen and a decline")
    root_cause: RootCause | None = Field(default=None, description="required to resolve")
    preventive_action: str | None = Field(default=None, max_length=2000)
    category: Category | None = None
    severity: Severity | None = None
    assignee: str | None = Field(default=None, min_length=1, max_length=100)


class NoteIn(Body):
    kind: Literal["note", "contact"] = "note"
    text: str = Field(min_length=1, max_length=20000)
    channel: Literal["phone", "email", "sms", "wechat", "in_person", "app", "other"] | None = Field(
        default=None, validate_default=True, description="a contact: how the customer was reached")
    author: str | None = Field(default=None, max_length=100)

    @field_validator("channel")
    @classmethod
    def _contact_has_channel(cls, channel: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("kind") == "contact" and channel is None:
            raise ValueError("a contact with the customer names its channel")
        return channel


class PauseIn(Body):
    reason: Literal["waiting_customer", "waiting_supplier"]


class EscalationIn(Body):
    to: Literal["team_lead", "manager"] = Field(description="who takes the complaint over")
    reason: str = Field(min_length=1, max_length=1000, description="why, kept on the timeline (not on the bus)")


MONEY_KINDS = ("refund", "partial_refund", "voucher")


class SolutionIn(Body):
    kind: Literal["refund", "partial_refund", "voucher", "service_redone", "apology", "goodwill_points"]
    amount: Decimal | None = Field(default=None, gt=0, max_digits=14, decimal_places=2, validate_default=True,
                                   description="refund, partial_refund, voucher: a decimal string")
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$", description="default: the business currency")
    points: int | None = Field(default=None, gt=0, le=10_000_000, validate_default=True,
                               description="goodwill_points only")
    description: str = Field(default="", max_length=5000)

    @field_validator("amount")
    @classmethod
    def _amount_fits_kind(cls, amount: Decimal | None, info: ValidationInfo) -> Decimal | None:
        kind = info.data.get("kind")
        if kind in MONEY_KINDS and amount is None:
            raise ValueError(f"a {kind} names its amount")
        if kind not in MONEY_KINDS and amount is not None:
            raise ValueError(f"a {kind} carries no amount")
        return amount

    @field_validator("points")
    @classmethod
    def _points_fit_kind(cls, points: int | None, info: ValidationInfo) -> int | None:
        kind = info.data.get("kind")
        if kind == "goodwill_points" and points is None:
            raise ValueError("goodwill_points names its points")
        if kind != "goodwill_points" and points is not None:
            raise ValueError(f"a {kind} carries no points")
        return points


class SolutionPublic(BaseModel):
    id: str
    kind: str
    amount: str | None
    currency: str | None
    points: int
    description: str
    status: str
    proposed_by: str
    approved_by: str | None
    created_at: Moment


class TimelinePublic(BaseModel):
    at: Moment
    kind: str
    actor: str
    channel: str | None
    from_state: str | None
    to_state: str | None
    text: str


class SlaPublic(BaseModel):
    first_response_due: Moment | None
    resolution_due: Moment | None
    first_response_at: Moment | None
    paused: Flag
    alarms: list[str]
    escalation_level: int
    met: Flag | None


class ComplaintPublic(BaseModel):
    id: str
    customer_id: str
    state: str
    allowed_transitions: list[str]
    channel: str
    source: str
    booking_id: str | None
    product_id: str | None
    destination: str | None
    supplier: str | None
    trip_phase: str
    summary: str
    description: str
    occurred_at: Moment | None
    attachments: list[dict[str, Any]]
    context: dict[str, Any]
    category: str
    severity: str
    suggested_category: str
    suggested_severity: str
    queue: str
    assignee: str | None
    filed_at: Moment
    resolved_at: Moment | None
    closed_at: Moment | None
    root_cause: str | None
    preventive_action: str | None
    compensation_points: int
    reopen_count: int
    satisfied: Flag | None
    crisis_id: str | None
    etag: str
    sla: SlaPublic
    solutions: list[SolutionPublic] = Field(default_factory=list)
    timeline: list[TimelinePublic] = Field(default_factory=list)


class CrisisIn(Body):
    kind: Literal["natural_disaster", "supplier_failure", "accident", "public_opinion"]
    scope_kind: Literal["product", "destination", "supplier"]
    scope_value: str = Field(min_length=1, max_length=200)
    affected_from: Day | None = None
    affected_to: Day | None = None
    message: str = Field(default="", max_length=2000)


class CrisisDecision(Body):
    message: str = Field(min_length=1, max_length=2000)
    compensation: SolutionIn | None = None


class CrisisPublic(BaseModel):
    id: str
    kind: str
    scope_kind: str
    scope_value: str
    status: str
    opened_by: str
    affected_from: Day | None
    affected_to: Day | None
    message: str
    checklist: list[dict[str, Any]]
    decision: dict[str, Any] | None
    declared_at: Moment
    complaints: list[str]
    notices: int


IncidentKind = Literal["lost_luggage", "lost_traveller", "injured_traveller", "missed_connection", "overbooking"]


class Insurance(Body):
    insurer: str = Field(min_length=1, max_length=200)
    claim_number: str | None = Field(default=None, max_length=100)
    status: Literal["not_filed", "filed", "in_review", "paid", "rejected"] = "filed"
    amount: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")


class IncidentIn(Body):
    customer_id: str = Field(min_length=1, max_length=100)
    kind: IncidentKind
    complaint_id: str | None = Field(default=None, max_length=36)
    booking_id: str | None = Field(default=None, max_length=100)
    occurred_at: UtcDatetime
    location: str = Field(default="", max_length=300)
    description: str = Field(default="", max_length=20000)
    supplier: str | None = Field(default=None, max_length=200)
    details: dict[str, str] = Field(default_factory=dict, description="per kind, e.g. carrier_reference, "
                                    "bag_description, contents, last_seen_where, claim_deadline")


class IncidentPatch(Body):
    supplier: str | None = Field(default=None, max_length=200)
    details: dict[str, str] | None = None
    insurance: Insurance | None = None
    outcome: str | None = Field(default=None, max_length=20000)
    status: Literal["open", "closed"] | None = None


class ChecklistTick(Body):
    done: Flag = True
    note: str | None = Field(default=None, max_length=2000)


class IncidentPublic(BaseModel):
    id: str
    customer_id: str
    complaint_id: str | None
    booking_id: str | None
    kind: str
    occurred_at: UtcDatetime
    location: str
    description: str
    supplier: str | None
    details: dict[str, Any]
    checklist: list[dict[str, Any]]
    insurance: dict[str, Any] | None
    outcome: str | None
    status: str
    etag: str
    created_at: Moment
    updated_at: Moment
