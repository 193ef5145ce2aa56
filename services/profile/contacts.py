"""Contact history (客户接触记录): every call, visit, email, WeChat or app message with a customer, inbound or
outbound, with its purpose, outcome and next step. A next step with a date schedules a return visit (回访) in the
care work queue; an inquiry may open a lead (leads.py). Use cases never commit."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import contact_repository as crepo, leads, repository as repo
from services.profile.contact_models import ContactRecord
from services.profile.contact_public import (
    ContactPublic, ContactRecorded, ContactsSummary, contact_public, lead_public, work_item,
)
from services.profile.contact_schemas import ContactIn, NextStep
from services.profile.models import CareTask, Customer
from shared.db import new_id, utcnow
from shared.errors import Conflict, Unprocessable
from shared.pages import Page, decode_cursor, page_of

LATEST = 5


async def active_file(session: AsyncSession, customer_id: str) -> Customer:
    """The customer's file, which must be active to take a contact (merged: record it on the survivor)."""
    customer = await repo.get_customer(session, customer_id)
    if customer.status != "active":
        raise Conflict(f"customer {customer_id} is {customer.status}", merged_into=customer.merged_into)
    return customer


def new_contact(session: AsyncSession, customer_id: str, *, staff: str, recorded_by: str, occurred_at: datetime,
                now: datetime, **fields: object) -> ContactRecord:
    """Add one contact record (channel, direction, purpose, summary, outcome, next step, care task)."""
    if occurred_at > now:
        raise Unprocessable("a contact cannot have happened in the future", field="occurred_at")
    contact = ContactRecord(id=new_id(), customer_id=customer_id, staff=staff, recorded_by=recorded_by,
                            occurred_at=occurred_at, recorded_at=now, **fields)
    session.add(contact)
    return contact


def schedule_return_visit(session: AsyncSession, contact: ContactRecord, step: NextStep) -> CareTask | None:
    """The contact's next step with a date, as a return-visit task for the same staff member."""
    if step.next_step_at is None:
        return None
    task = CareTask(id=new_id(), customer_id=contact.customer_id, kind="return-visit", occasion=f"contact-{contact.id}",
                    due_at=step.next_step_at, assignee=contact.staff, staff_note=step.next_step)
    session.add(task)
    return task


async def record_contact(session: AsyncSession, customer_id: str, body: ContactIn, *, recorded_by: str,
                         now: datetime | None = None) -> ContactRecorded:
    """Record a contact; its next step (with a date) schedules a return visit, an inquiry's `lead` opens a lead."""
    now = now or utcnow()
    await active_file(session, customer_id)
    contact = new_contact(
        session, customer_id, staff=body.staff or recorded_by, recorded_by=recorded_by,
        occurred_at=body.occurred_at or now, now=now, channel=body.channel, direction=body.direction,
        purpose=body.purpose, summary=body.summary, outcome=body.outcome, next_step=body.next_step,
        next_step_at=body.next_step_at)
    task = schedule_return_visit(session, contact, body)
    lead = leads.open_lead(session, contact, body.lead, now=now) if body.lead else None
    await session.flush()
    return ContactRecorded(**contact_public(contact).model_dump(), lead=lead_public(lead) if lead else None,
                           return_visit=work_item(task) if task else None)


async def contacts_page(session: AsyncSession, customer_id: str, cursor: str | None,
                        limit: int) -> Page[ContactPublic]:
    """A customer's contacts, newest first."""
    await repo.get_customer(session, customer_id)
    rows = await crepo.contacts_page(session, customer_id, decode_cursor(cursor, datetime, str), limit)
    return page_of(rows, limit, lambda c: (c.occurred_at, c.id), contact_public)


async def summary(session: AsyncSession, customer_id: str) -> ContactsSummary:
    """The 360 view's part: latest contacts and the next step due (the earliest open return visit, else the latest
    contact's next step)."""
    latest = await crepo.contacts_page(session, customer_id, None, LATEST - 1)
    visit = await crepo.next_return_visit(session, customer_id)
    step, step_at = (visit.staff_note or "return visit", visit.due_at) if visit else (
        (latest[0].next_step, latest[0].next_step_at) if latest else (None, None))
    return ContactsSummary(total=await crepo.contact_count(session, customer_id),
                           latest=[contact_public(c) for c in latest], next_step=step, next_step_at=step_at)
