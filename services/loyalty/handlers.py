"""Handlers of the events the loyalty service consumes: one use case each; they never commit.

booking-completed is earned per consumer batch: in the batch's fast pass the handler stages it and
`earning.apply_staged` (SPEC.after_batch) earns the whole queue at once; every other handler applies the
queue first, so events still take effect in their order. When the consumer redoes a batch one event at a
time (each in a savepoint) or replays a dead letter, the booking earns at once, as a batch of one.

The inbox makes a redelivered event change nothing; each use case is also keyed on its business id
(booking id, complaint id, survey id, referral), so a producer retrying with a new event id changes
nothing either.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import bonuses, customers, earning, offers, organisations, segments
from services.loyalty.privacy import PRIVACY
from shared.db import utcnow
from shared.events import (
    BookingCancelled, BookingCompleted, ComplaintReopened, ComplaintResolved, CustomerAtRisk, CustomerErased,
    CustomerRegistered, CustomersMerged, Event, FeedbackSubmitted, OrganisationRegistered, SegmentMembershipChanged,
)


async def on_booking_completed(event: Event[BookingCompleted], session: AsyncSession) -> None:
    if session.in_nested_transaction():  # one event at a time, in its own savepoint: earn now
        await earning.earn(session, [(event.data, utcnow())])
    else:
        earning.stage(session, event.data, utcnow())


async def on_booking_cancelled(event: Event[BookingCancelled], session: AsyncSession) -> None:
    await earning.apply_staged(session)
    await earning.cancel_booking(session, event.data, utcnow())


async def on_complaint_resolved(event: Event[ComplaintResolved], session: AsyncSession) -> None:
    await earning.apply_staged(session)
    await bonuses.goodwill(session, event.data, utcnow())


async def on_complaint_reopened(event: Event[ComplaintReopened], session: AsyncSession) -> None:
    await earning.apply_staged(session)
    await bonuses.withdraw_goodwill(session, event.data, utcnow())


async def on_feedback_submitted(event: Event[FeedbackSubmitted], session: AsyncSession) -> None:
    await earning.apply_staged(session)
    await bonuses.survey_bonus(session, event.data, utcnow())


async def on_customer_at_risk(event: Event[CustomerAtRisk], session: AsyncSession) -> None:
    await earning.apply_staged(session)
    await offers.winback_offer(session, event.data, utcnow())


async def on_segment_membership_changed(event: Event[SegmentMembershipChanged], session: AsyncSession) -> None:
    await earning.apply_staged(session)  # a booking staged before the member joined earns as it did then
    await segments.membership_changed(session, event.data, utcnow())


async def on_customers_merged(event: Event[CustomersMerged], session: AsyncSession) -> None:
    await earning.apply_staged(session)
    await PRIVACY.repoint(session, event.data, utcnow())
    await customers.merged(session, event.data.customer_id, list(event.data.merged_ids), utcnow())


async def on_customer_erased(event: Event[CustomerErased], session: AsyncSession) -> None:
    await earning.apply_staged(session)
    await PRIVACY.erase(session, event.data, utcnow())


async def on_customer_registered(event: Event[CustomerRegistered], session: AsyncSession) -> None:
    await earning.apply_staged(session)
    await customers.know(session, [event.data.customer_id], utcnow())


async def on_organisation_registered(event: Event[OrganisationRegistered], session: AsyncSession) -> None:
    await earning.apply_staged(session)
    await organisations.register(session, event.data)
