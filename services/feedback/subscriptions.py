"""The events the feedback service consumes, and their handlers: the whole wiring at a glance."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.feedback import handlers as h
from services.feedback import invitations
from services.feedback.privacy import PRIVACY
from shared.consumer import Handler, Subscriptions
from shared.events import (
    BookingCancelled, BookingCompleted, ComplaintClosed, ComplaintFiled, ComplaintReopened, ComplaintResolved,
    ConsentChanged, CustomerRegistered, CustomerUpdated, Event, MemberEnrolled, PointsEarned, TierChanged,
)


def _in_order(handler: Handler) -> Handler:
    """The handler, after the post-trip invitations staged before it are written (events apply in their order)."""
    async def handle(event: Event[Any], session: AsyncSession) -> None:
        await invitations.schedule_staged(session)
        await handler(event, session)

    handle.__name__ = handler.__name__
    return handle


_IN_ORDER: Subscriptions = {
    BookingCancelled: [h.on_booking_cancelled],
    ComplaintFiled: [h.on_complaint_filed],
    ComplaintReopened: [h.on_complaint_reopened],
    ComplaintResolved: [h.on_complaint_resolved],
    ComplaintClosed: [h.on_complaint_closed],
    ConsentChanged: [h.on_consent_changed],
    CustomerRegistered: [h.on_customer_profile],
    CustomerUpdated: [h.on_customer_profile],
    MemberEnrolled: [h.on_tier],
    TierChanged: [h.on_tier],
    PointsEarned: [h.on_points_earned],
    **PRIVACY.subscriptions(),  # customer-erased, customers-merged
}
SUBSCRIPTIONS: Subscriptions = {
    BookingCompleted: [h.on_booking_completed],  # staged; SPEC.after_batch schedules the batch's invitations
    **{model: [_in_order(handler) for handler in handlers] for model, handlers in _IN_ORDER.items()},
}
