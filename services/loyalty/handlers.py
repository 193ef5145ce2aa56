"""Handlers of the events the loyalty service consumes: one use case each; they never commit.

booking-completed is earned per consumer batch: in the batch's fast pass the handler queues it and
`service.apply_staged` (SPEC.after_batch) earns the whole queue with a few multi-row statements; every
other handler applies the queue first, so events still take effect in their order. When the consumer
redoes a batch one event at a time (each in a savepoint) or replays a dead letter, it earns at once.

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
    if session.in_nested_transaction():  # one event at a time, in its own savepoint: earn now
        await service.earn_booking(session, event.data, utcnow())
    else:
        await service.stage_earn(session, event.data, utcnow())


async def on_booking_cancelled(event: Event[BookingCancelled], session: AsyncSession) -> None:
    await service.apply_staged(session)
    await service.cancel_booking(session, event.data, utcnow())


async def on_complaint_resolved(event: Event[ComplaintResolved], session: AsyncSession) -> None:
    await service.apply_staged(session)
    await service.goodwill(session, event.data, utcnow())


async def on_complaint_reopened(event: Event[ComplaintReopened], session: AsyncSession) -> None:
    await service.apply_staged(session)
    await service.withdraw_goodwill(session, event.data, utcnow())


async def on_feedback_submitted(event: Event[FeedbackSubmitted], session: AsyncSession) -> None:
    await service.apply_staged(session)
    await service.survey_bonus(session, event.data, utcnow())


async def on_customer_at_risk(event: Event[CustomerAtRisk], session: AsyncSession) -> None:
    await service.apply_staged(session)
    await service.winback_offer(session, event.data, utcnow())


async def on_customers_merged(event: Event[CustomersMerged], session: AsyncSession) -> None:
    await service.apply_staged(session)
    await service.merge(session, event.data, utcnow())


async def on_customer_erased(event: Event[CustomerErased], session: AsyncSession) -> None:
    await service.apply_staged(session)
    await service.erase(session, event.data, utcnow())
