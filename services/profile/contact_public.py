"""What the contact-history, work-queue, lead, win-back and lapse routes answer, and the row → answer functions."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from services.profile.contact_models import ContactRecord, LapseReason, Lead
from services.profile.models import CareTask
from services.profile.wire import Moment, Money


class ContactPublic(BaseModel):
    id: str
    customer_id: str
    channel: str
    direction: str
    purpose: str
    summary: str | None = None
    outcome: str | None = None
    next_step: str | None = None
    next_step_at: Moment | None = None
    staff: str
    occurred_at: Moment
    care_task_id: str | None = None
    recorded_by: str
    recorded_at: Moment


class LeadPublic(BaseModel):
    id: str
    customer_id: str
    contact_id: str | None = None
    interest: str
    destination: str | None = None
    product_id: str | None = None
    source: str
    status: str
    lost_reason: str | None = None
    booking_id: str | None = None
    opened_by: str
    opened_at: Moment
    closed_at: Moment | None = None


class WorkItem(BaseModel):
    """A care task in the staff work queue."""

    id: str
    customer_id: str
    kind: str
    occasion: str
    due_at: Moment
    status: str
    channel: str | None = None
    note: str | None = None
    emitted_at: Moment | None = None
    assignee: str | None = None
    snoozed_until: Moment | None = None
    staff_note: str | None = None
    offer_id: str | None = None
    offer_expires_at: Moment | None = None
    completed_at: Moment | None = None
    contact_id: str | None = None


class ContactRecorded(ContactPublic):
    """The contact, the lead it opened and the return-visit task its next step scheduled."""

    lead: LeadPublic | None = None
    return_visit: WorkItem | None = None


class TaskCompleted(BaseModel):
    task: WorkItem
    contact: ContactPublic


class ContactsSummary(BaseModel):
    """Contact history in the 360 view: the latest contacts, and the next step due (the earliest open return visit
    or the latest contact's next step)."""

    total: int
    latest: list[ContactPublic]
    next_step: str | None = None
    next_step_at: Moment | None = None


class LapsePublic(BaseModel):
    cause: str
    note: str | None = None
    source: str
    set_by: str
    set_at: Moment


class LapseSuggestion(BaseModel):
    """A cause suggested from the customer's complaints; staff confirm it by setting it."""

    cause: str
    complaint_ids: list[str]
    basis: str


class LapseAnswer(BaseModel):
    customer_id: str
    reason: LapsePublic | None = None
    suggested: LapseSuggestion | None = None


class WinBackReport(BaseModel):
    """Customers marked at risk in [start, end), how many of them booked again since (won back), and the rate."""

    start: date
    end: date
    at_risk: int
    won_back: int
    rate: float | None = None


class LostGroup(BaseModel):
    key: str
    customers: int
    suggested: int
    lost_yearly_revenue: Money
    unconverted: dict[str, Money]


class LapseReport(BaseModel):
    """Customers lost in [start, end) (lapse date: last booking + `lapse_after_days`, or the day staff gave a reason) and
    their lost yearly revenue: their average yearly booking value in `currency`; amounts in currencies without an
    exchange rate are in `unconverted`, per currency, never added in. A customer without a reason set counts under
    the cause suggested from their complaints (`suggested`), else `unknown`."""

    start: date
    end: date
    currency: str
    lapse_after_days: int
    customers: int
    lost_yearly_revenue: Money
    unconverted: dict[str, Money]
    by_reason: list[LostGroup]
    by_segment: list[LostGroup]
    by_period: list[LostGroup]


def contact_public(c: ContactRecord) -> ContactPublic:
    return ContactPublic.model_validate(c, from_attributes=True)


def lead_public(lead: Lead) -> LeadPublic:
    return LeadPublic.model_validate(lead, from_attributes=True)


def work_item(task: CareTask) -> WorkItem:
    return WorkItem.model_validate(task, from_attributes=True)


def lapse_public(reason: LapseReason) -> LapsePublic:
    return LapsePublic.model_validate(reason, from_attributes=True)
