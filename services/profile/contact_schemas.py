"""What staff send about contacts, the care work queue, leads and lapse reasons (answers: contact_public.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from services.profile.schemas import Strict
from shared.db import aware
from shared.fields import Moment

UtcMoment = Annotated[Moment, AfterValidator(aware)]  # a time without an offset is read as UTC
ContactChannel = Literal["phone", "visit", "email", "wechat", "app", "sms"]
Direction = Literal["inbound", "outbound"]
ContactPurpose = Literal["inquiry", "booking", "complaint", "care", "return-visit"]
# the switching causes of service research (Keaveney 1995): why customers leave a service provider
Cause = Literal["price", "inconvenience", "core-service-failure", "service-encounter-failure", "response-to-failure",
                "competitor", "ethical", "involuntary"]
CAUSES: tuple[str, ...] = ("price", "inconvenience", "core-service-failure", "service-encounter-failure",
                           "response-to-failure", "competitor", "ethical", "involuntary")
LeadSource = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9-]*$",
                                  examples=["website", "phone", "walk-in", "ota", "referral", "wechat"])]
Staff = Annotated[str, Field(min_length=1, max_length=100)]


class LeadIn(Strict):
    """What the inquiry was about: the lead it opens."""

    interest: str = Field(min_length=1, max_length=300, examples=["九寨沟 family trip in October"])
    destination: str | None = Field(default=None, max_length=200)
    product_id: str | None = Field(default=None, min_length=1, max_length=100)
    source: LeadSource


class NextStep(Strict):
    next_step: str | None = Field(default=None, min_length=1, max_length=500)
    next_step_at: UtcMoment | None = Field(default=None, description="when; schedules a return-visit task then")

    @field_validator("next_step_at")
    @classmethod
    def _step_with_date(cls, value: object, info: ValidationInfo) -> object:
        if value is not None and info.data.get("next_step") is None:
            raise ValueError("next_step_at needs next_step")
        return value


class ContactIn(NextStep):
    """One contact with the customer; an inquiry may open a lead."""

    channel: ContactChannel
    direction: Direction
    purpose: ContactPurpose
    summary: str | None = Field(default=None, max_length=4000)
    outcome: str | None = Field(default=None, min_length=1, max_length=500)
    staff: Staff | None = Field(default=None, description="the staff member; default: the calling key's client")
    occurred_at: UtcMoment | None = Field(default=None, description="default: now")
    lead: LeadIn | None = Field(default=None, description="only with purpose inquiry")

    @field_validator("lead")
    @classmethod
    def _lead_from_inquiry(cls, value: LeadIn | None, info: ValidationInfo) -> LeadIn | None:
        if value is not None and info.data.get("purpose") != "inquiry":
            raise ValueError("only an inquiry opens a lead")
        return value


class CareTaskIn(Strict):
    """A return visit (回访) planned by staff."""

    customer_id: str = Field(min_length=1, max_length=100)
    due_at: UtcMoment
    assignee: Staff | None = None
    note: str | None = Field(default=None, max_length=1000)


class AssignIn(Strict):
    assignee: Staff


class SnoozeIn(Strict):
    until: UtcMoment


class CompleteIn(NextStep):
    """The outcome of a care task, recorded as a contact with the customer."""

    outcome: str = Field(min_length=1, max_length=500)
    channel: ContactChannel
    direction: Direction = "outbound"
    summary: str | None = Field(default=None, max_length=4000)
    staff: Staff | None = None
    lapse_reason: Cause | None = Field(default=None, description="why the customer left, learnt on a return visit")


class LoseIn(Strict):
    reason: str = Field(min_length=1, max_length=500)


class LapseIn(Strict):
    cause: Cause
    note: str | None = Field(default=None, max_length=1000)
