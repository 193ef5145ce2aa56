"""Routes of contact history, leads, lapse reasons and the churn reports (win-back rate, lost revenue by reason).
Staff only: a customer-facing key is refused."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.profile import contacts, lapses, leads, winback
from services.profile.contact_public import (
    ContactPublic, ContactRecorded, LapseAnswer, LapsePublic, LapseReport, LeadPublic, WinBackReport,
)
from services.profile.contact_schemas import ContactIn, LapseIn, LoseIn
from shared.app import ReadSessionDep, UnitOfWork
from shared.auth import Scope
from shared.fields import Day
from shared.pages import Cursor, Limit, Page

router = APIRouter(prefix="/v1", tags=["contacts"])
LeadStatus = Annotated[str | None, Query(pattern="^(open|won|lost)$")]
Source = Annotated[str | None, Query(min_length=1, max_length=50)]
CustomerFilter = Annotated[str | None, Query(min_length=1, max_length=100)]
Start = Annotated[Day, Query(description="first business date of the period")]
End = Annotated[Day, Query(description="the day after the period")]
Period = Annotated[str, Query(pattern="^(month|quarter|year)$")]
SegmentFilter = Annotated[str | None, Query(min_length=1, max_length=100, description="only this segment's members")]


@router.post("/customers/{customer_id}/contacts", status_code=201, response_model=ContactRecorded)
async def record_contact(customer_id: str, body: ContactIn, session: UnitOfWork,
                         client: Scope("profile:write")) -> ContactRecorded:
    """Record a contact; a dated next step schedules a return visit, an inquiry's `lead` opens a lead."""
    return await contacts.record_contact(session, customer_id, body, recorded_by=client.name)


@router.get("/customers/{customer_id}/contacts", response_model=Page[ContactPublic])
async def list_contacts(customer_id: str, session: ReadSessionDep, client: Scope("profile:read"),
                        cursor: Cursor = None, limit: Limit = 50) -> Page[ContactPublic]:
    """The customer's contact history, newest first."""
    return await contacts.contacts_page(session, customer_id, cursor, limit)


@router.get("/leads", response_model=Page[LeadPublic])
async def list_leads(session: ReadSessionDep, client: Scope("profile:read"), cursor: Cursor = None, limit: Limit = 50,
                     status: LeadStatus = None, source: Source = None,
                     customer_id: CustomerFilter = None) -> Page[LeadPublic]:
    """Leads, newest first."""
    return await leads.leads_page(session, cursor, limit, status=status, source=source, customer_id=customer_id)


@router.get("/leads/{lead_id}", response_model=LeadPublic)
async def get_lead(lead_id: str, session: ReadSessionDep, client: Scope("profile:read")) -> LeadPublic:
    return await leads.lead(session, lead_id)


@router.post("/leads/{lead_id}/lose", response_model=LeadPublic)
async def lose_lead(lead_id: str, body: LoseIn, session: UnitOfWork, client: Scope("profile:write")) -> LeadPublic:
    """Close an open lead as lost (409 when it is won or lost already)."""
    return await leads.lose(session, lead_id, body.reason)


@router.get("/customers/{customer_id}/lapse-reason", response_model=LapseAnswer)
async def get_lapse_reason(customer_id: str, session: ReadSessionDep, client: Scope("profile:read")) -> LapseAnswer:
    """The switching cause staff set, and the one the customer's complaints suggest."""
    return await lapses.answer(session, customer_id)


@router.put("/customers/{customer_id}/lapse-reason", response_model=LapsePublic)
async def set_lapse_reason(customer_id: str, body: LapseIn, session: UnitOfWork,
                           client: Scope("profile:write")) -> LapsePublic:
    return await lapses.set_by_staff(session, customer_id, body.cause, body.note, set_by=client.name)


@router.get("/reports/win-back", response_model=WinBackReport)
async def win_back_report(session: ReadSessionDep, client: Scope("profile:read"), start: Start,
                          end: End) -> WinBackReport:
    """Customers marked at risk in [start, end), how many booked again after the mark, and the rate."""
    return await winback.report(session, start, end)


@router.get("/reports/lapses", response_model=LapseReport)
async def lapse_report(session: ReadSessionDep, client: Scope("profile:read"), start: Start, end: End,
                       period: Period = "month", segment_id: SegmentFilter = None) -> LapseReport:
    """Customers lost in [start, end) and their lost yearly revenue, by cause, value segment and period."""
    return await lapses.report(session, start, end, period=period, segment_id=segment_id)



