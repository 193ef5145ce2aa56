"""Leads: inquiries that have not become bookings, kept with their source. An inquiry contact opens one; the
customer's first completed booking after it wins it (the consumer's after_batch hook `settle_touched`), or staff
mark it lost with a reason. Use cases never commit."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import contact_repository as crepo
from services.profile.contact_models import ContactRecord, Lead
from services.profile.contact_public import LeadPublic, lead_public
from services.profile.contact_schemas import LeadIn
from services.profile.repository import get_row
from services.profile.scoring import OPEN_LEADS
from shared.db import new_id, utcnow
from shared.errors import Conflict
from shared.pages import Page, decode_cursor, page_of


def open_lead(session: AsyncSession, contact: ContactRecord, body: LeadIn, *, now: datetime) -> Lead:
    """The lead an inquiry opens, from the time of the inquiry."""
    lead = Lead(id=new_id(), customer_id=contact.customer_id, contact_id=contact.id, interest=body.interest,
                destination=body.destination, product_id=body.product_id, source=body.source,
                opened_by=contact.staff, opened_at=min(contact.occurred_at, now))
    session.add(lead)
    return lead


async def lose(session: AsyncSession, lead_id: str, reason: str, *, now: datetime | None = None) -> LeadPublic:
    """Staff close an open lead as lost; a won or lost lead is a 409."""
    lead = await get_row(session, Lead, lead_id, "lead")
    if lead.status != "open":
        raise Conflict(f"lead {lead_id} is already {lead.status}", lead_status=lead.status)
    lead.status, lead.lost_reason, lead.closed_at = "lost", reason, now or utcnow()
    return lead_public(lead)


async def lead(session: AsyncSession, lead_id: str) -> LeadPublic:
    return lead_public(await get_row(session, Lead, lead_id, "lead"))


async def leads_page(session: AsyncSession, cursor: str | None, limit: int, *, status: str | None,
                     source: str | None, customer_id: str | None) -> Page[LeadPublic]:
    """Leads, newest first, filtered by status, source and customer."""
    rows = await crepo.leads_page(session, decode_cursor(cursor, datetime, str), limit, status=status, source=source,
                                  customer_id=customer_id)
    return page_of(rows, limit, lambda lead: (lead.opened_at, lead.id), lead_public)


async def settle_touched(session: AsyncSession) -> None:
    """after_batch hook (after the batch's bookings are written and `scoring.recompute_touched`, which notes the
    customers it touched that have an open lead): each open lead of those customers is won by that customer's first
    completed booking at or after the lead."""
    customers = session.info.pop(OPEN_LEADS, None)
    if not customers:
        return
    open_leads = await crepo.open_leads_of(session, customers)
    if not open_leads:
        return
    bookings = await crepo.completed_bookings_since(session, {lead.customer_id for lead in open_leads},
                                                    min(lead.opened_at for lead in open_leads))
    now = utcnow()
    for lead in open_leads:
        first = next((b for b in bookings if b[0] == lead.customer_id and b[2] >= lead.opened_at), None)
        if first is not None:
            lead.status, lead.booking_id, lead.closed_at = "won", first[1], now
