"""Handlers of the events the loyalty service consumes: one use case each; they never commit.

The inbox makes a redelivered event change nothing; each use case is also keyed on its business id
(booking id, complaint id, survey id, referral), so a producer retrying with a new event id changes
nothing either.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import service
from shared.db import utcnow
from shared.events import (
    BookingCancelled, BookingCompleted, ComplaintReopened, ComplaintResolved, CustomerAtRisk, CustomerErased,
    CustomersMerged, Event, FeedbackSubmitted,
)


async def on_booking_completed(event: Event[BookingCompleted], session: AsyncSession) -> None:
    await service.earn_booking(session, event.data, utcnow())


async def on_booking_cancelled(event: Event[BookingCancelled], session: AsyncSession) -> None:
    await service.cancel_booking(session, event.data, utcnow())


async def on_complaint_resolved(event: Event[ComplaintResolved], session: AsyncSession) -> None:
    await service.goodwill(session, event.data, utcnow())


async def on_complaint_reopened(event: Event[ComplaintReopened], session: AsyncSession) -> None:
    await service.withdraw_goodwill(session, event.data, utcnow())


async def on_feedback_submitted(event: Event[FeedbackSubmitted], session: AsyncSession) -> None:
    await service.survey_bonus(session, event.data, utcnow())


async def on_customer_at_risk(event: Event[CustomerAtRisk], session: AsyncSession) -> None:
    await service.winback_offer(session, event.data, utcnow())


async def on_customers_merged(event: Event[CustomersMerged], session: AsyncSession) -> None:
    await service.merge(session, event.data, utcnow())


async def on_customer_erased(event: Event[CustomerErased], session: AsyncSession) -> None:
    await service.erase(session, event.data, utcnow())
