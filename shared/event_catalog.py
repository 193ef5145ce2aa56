"""The events of complaints, loyalty, feedback and data rights (the catalog begins in shared.event_data)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.event_data import (
    COMPLAINTS, CustomerId, EventData, FEEDBACK, LOYALTY, Money, PROFILE,
)

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
