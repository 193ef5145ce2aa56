"""Tables of the feedback service and their public schemas.

An invitation carries the booking context it was made for (product, destination, guide, supplier,
channel, tier, the trip elements it contained), so that its response and the scores by any of them
need no other table. A response is unique per invitation: a token answers once.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field as PField
from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.fields import Flag, Moment
from shared.db import new_id, utc_column, utcnow

INVITATION_STATUSES = ("scheduled", "sent", "answered", "expired", "cancelled", "suppressed")


class SurveyTemplate(SQLModel, table=True):
    """A version of a survey template written through the API (the shipped ones live in templates.py)."""

    __tablename__ = "survey_template"
    template_id: str = Field(primary_key=True, max_length=100)
    version: int = Field(primary_key=True)
    kind: str = Field(max_length=20)
    title: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    questions: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    created_at: Moment = Field(default_factory=utcnow, sa_column=utc_column())


class FeedbackSetting(SQLModel, table=True):
    """The service's configuration (one row): delays, periods, CSI weights, thresholds."""

    __tablename__ = "feedback_setting"
    id: int = Field(default=1, primary_key=True)
    values: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: Moment = Field(default_factory=utcnow, sa_column=utc_column())


class SurveyCustomer(SQLModel, table=True):
    """What the feedback service knows about a customer: survey consent, language, tier, last contact."""

    __tablename__ = "survey_customer"
    customer_id: str = Field(primary_key=True, max_length=100)
    survey_consent: Flag | None = None  # None: never said (see config consent_required)
    consent_channel: str | None = Field(default=None, max_length=20)
    language: str | None = Field(default=None, max_length=20)
    tier: str | None = Field(default=None, max_length=20)
    referrer: Flag = False  # referred another customer (loyalty's referral points)
    referred: Flag = False  # was referred by another customer (the referee of those points)
    last_invited_at: Moment | None = Field(default=None, sa_column=utc_column(nullable=True))


class OpenComplaint(SQLModel, table=True):
    """A complaint of the customer that is filed (or reopened) and not yet resolved or closed."""

    __tablename__ = "open_complaint"
    complaint_id: str = Field(primary_key=True, max_length=100)
    customer_id: str = Field(index=True, max_length=100)
    booking_id: str | None = Field(default=None, max_length=100)  # the booking complained about, if any
    opened_at: Moment = Field(sa_column=utc_column())


class Invitation(SQLModel, table=True):
    __tablename__ = "invitation"
    __table_args__ = (UniqueConstraint("business_key", name="uq_invitation_business_key"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    token: str = Field(unique=True, max_length=64)
    business_key: str = Field(max_length=250)  # post-trip:<booking>, follow-up:<complaint>, member:<customer>:<half>
    kind: str = Field(max_length=20)  # post-trip, follow-up, member
    template_id: str = Field(max_length=100)
    template_version: int
    customer_id: str = Field(index=True, max_length=100)
    booking_id: str | None = Field(default=None, max_length=100)  # not indexed: found by business_key
    complaint_id: str | None = Field(default=None, max_length=100)
    product_id: str | None = Field(default=None, max_length=100)
    product_name: str | None = Field(default=None, max_length=300)
    product_kind: str | None = Field(default=None, max_length=50)
    destination: str | None = Field(default=None, max_length=200)
    guide: str | None = Field(default=None, max_length=100)
    supplier: str | None = Field(default=None, max_length=100)
    channel: str | None = Field(default=None, max_length=20)
    tier: str | None = Field(default=None, max_length=20)
    elements: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    language: str = Field(default="zh-CN", max_length=20)
    status: str = Field(default="scheduled", index=True, max_length=20)
    reason: str | None = Field(default=None, max_length=100)  # why suppressed or cancelled
    send_at: Moment = Field(sa_column=utc_column(index=True))
    sent_at: Moment | None = Field(default=None, sa_column=utc_column(nullable=True))
    reminded_at: Moment | None = Field(default=None, sa_column=utc_column(nullable=True))
    expires_at: Moment | None = Field(default=None, sa_column=utc_column(nullable=True))
    answered_at: Moment | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: Moment = Field(default_factory=utcnow, sa_column=utc_column())


class Response(SQLModel, table=True):
    __tablename__ = "survey_response"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    invitation_id: str = Field(unique=True, max_length=36)
    customer_id: str = Field(index=True, max_length=100)
    kind: str = Field(max_length=20)
    template_id: str = Field(max_length=100)
    template_version: int
    booking_id: str | None = Field(default=None, max_length=100)
    complaint_id: str | None = Field(default=None, max_length=100)
    product_id: str | None = Field(default=None, max_length=100)
    destination: str | None = Field(default=None, max_length=200)
    guide: str | None = Field(default=None, max_length=100)
    supplier: str | None = Field(default=None, max_length=100)
    channel: str | None = Field(default=None, max_length=20)
    tier: str | None = Field(default=None, max_length=20)
    nps: int | None = None
    csat: int | None = None
    ratings: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # element → 1..5
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    comment: str | None = Field(default=None, sa_column=Column(Text))
    language: str | None = Field(default=None, max_length=20)
    sentiment: str | None = Field(default=None, max_length=10)  # positive, neutral, negative
    sentiment_score: float | None = None
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    analyser: str | None = Field(default=None, max_length=20)  # the analyser version that scored it
    detractor: Flag = False
    submitted_at: Moment = Field(sa_column=utc_column(index=True))


class Review(SQLModel, table=True):
    __tablename__ = "review"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    customer_id: str = Field(index=True, max_length=100)
    product_id: str = Field(index=True, max_length=100)
    booking_id: str | None = Field(default=None, max_length=100)
    rating: int
    title: str | None = Field(default=None, max_length=200)
    text: str | None = Field(default=None, sa_column=Column(Text))
    language: str | None = Field(default=None, max_length=20)
    sentiment: str | None = Field(default=None, max_length=10)
    sentiment_score: float | None = None
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", index=True, max_length=20)  # pending, approved, rejected
    moderation_note: str | None = Field(default=None, max_length=500)
    created_at: Moment = Field(default_factory=utcnow, sa_column=utc_column())
    moderated_at: Moment | None = Field(default=None, sa_column=utc_column(nullable=True))


# --- wire schemas ------------------------------------------------------------------------------


class QuestionPublic(BaseModel):
    id: str
    type: str  # nps, csat, rating, text
    text: str
    element: str | None = None
    required: Flag = True
    min: int | None = None
    max: int | None = None


class SurveyPublic(BaseModel):
    """A template version (GET /v1/surveys)."""

    id: str
    version: int
    kind: str
    title: dict[str, str]
    questions: list[dict[str, Any]]
    shipped: Flag


class QuestionIn(BaseModel):
    id: str = PField(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_]*$")
    type: str = PField(pattern=r"^(nps|csat|rating|text)$")
    text: dict[str, str] = PField(min_length=1)
    element: str | None = PField(default=None, max_length=30)
    required: Flag = True


class SurveyCreate(BaseModel):
    """A new version of a template (the first one when the id is new)."""

    id: str = PField(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9-]*$")
    kind: str = PField(pattern=r"^(post-trip|follow-up|member)$")
    title: dict[str, str] = PField(min_length=1)
    questions: list[QuestionIn] = PField(min_length=1, max_length=40)


class InvitationForm(BaseModel):
    """GET /v1/surveys/invitations/{token}: what the website or app renders."""

    token: str
    kind: str
    status: str
    language: str
    title: str
    product_name: str | None
    expires_at: Moment | None
    questions: list[QuestionPublic]


class InvitationPublic(BaseModel):
    id: str
    token: str
    kind: str
    status: str
    reason: str | None
    customer_id: str
    booking_id: str | None
    complaint_id: str | None
    product_id: str | None
    template_id: str
    template_version: int
    language: str
    send_at: Moment
    sent_at: Moment | None
    reminded_at: Moment | None
    expires_at: Moment | None
    answered_at: Moment | None


class ResponseIn(BaseModel):
    answers: dict[str, Any] = PField(max_length=60)


class ResponsePublic(BaseModel):
    id: str
    invitation_id: str
    customer_id: str
    kind: str
    booking_id: str | None
    complaint_id: str | None
    product_id: str | None
    nps: int | None
    csat: int | None
    ratings: dict[str, int]
    answers: dict[str, Any]
    comment: str | None
    sentiment: str | None
    sentiment_score: float | None
    topics: list[str]
    detractor: Flag
    submitted_at: Moment


class CustomerFeedback(BaseModel):
    customer_id: str
    invitations: list[InvitationPublic]
    responses: list[ResponsePublic]


class ReviewCreate(BaseModel):
    customer_id: str = PField(min_length=1, max_length=100)
    product_id: str = PField(min_length=1, max_length=100)
    booking_id: str | None = PField(default=None, max_length=100)
    rating: int = PField(ge=1, le=5)
    title: str | None = PField(default=None, max_length=200)
    text: str | None = PField(default=None, max_length=5000)


class ReviewModeration(BaseModel):
    status: str = PField(pattern=r"^(approved|rejected)$")
    note: str | None = PField(default=None, max_length=500)


class ReviewPublic(BaseModel):
    id: str
    customer_id: str
    product_id: str
    booking_id: str | None
    rating: int
    title: str | None
    text: str | None
    sentiment: str | None
    sentiment_score: float | None
    topics: list[str]
    status: str
    moderation_note: str | None
    created_at: Moment
    moderated_at: Moment | None


class Config(BaseModel):
    """The feedback service's configuration (GET / PUT /v1/surveys/config)."""

    invite_delay_hours: float = PField(default=24, ge=0, le=24 * 60)
    recontact_days: int = PField(default=30, ge=0, le=730)
    expiry_days: int = PField(default=14, ge=1, le=365)
    reminder_after_days: float = PField(default=3, ge=0.5, le=365)  # at most one reminder, this long after sending
    consent_required: Flag = False  # True: invite only customers who granted survey consent
    member_survey_tiers: list[str] = PField(default_factory=lambda: ["gold", "platinum"])
    member_survey_enabled: Flag = True  # twice a year (each half of the calendar year in the business time zone)
    csi_weights: dict[str, float] = PField(default_factory=lambda: {
        "meals": 1, "lodging": 1.5, "transport": 1, "sightseeing": 1.5, "shopping": 0.5, "entertainment": 0.5,
        "guide": 1.5, "value": 1, "expectations": 1})
    small_sample: int = PField(default=30, ge=1, le=100000)  # groups with fewer responses are flagged
    strongly_negative: float = PField(default=-0.6, ge=-1, le=0)  # a comment at or below is a detractor signal
    link_base: str = PField(default="https://tourcrm.example/surveys/", max_length=300)
    quiet_from_hour: int = PField(default=21, ge=0, le=23)  # no invitation or reminder goes out from this hour …
    quiet_until_hour: int = PField(default=9, ge=0, le=23)  # … until this one, business time (equal: no quiet hours)
