"""Handlers of the events profile consumes; they change rows in the consumer's transaction and never commit.

Effects are keyed on business ids (booking id, complaint id, response id, request id + service), so a
producer retrying under a new event id changes nothing.

Handlers record facts only (booking-completed, on the consumer's fast path, only notes them for
`service.write_deferred`, which writes the batch's bookings together); a customer whose value or churn they may change is noted with `service.touch`
and recomputed once per consumed batch by `service.recompute_touched` (the spec's after_batch hook).
"""

from __future__ import annotations


from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import service
from services.profile.models import FeedbackView
from shared import events as ev
from shared.db import settings_of, utcnow
from shared.events import Event


async def on_booking_completed(event: Event[ev.BookingCompleted], session: AsyncSession) -> None:
    if session.in_nested_transaction():  # one event at a time (a failed batch redone, a replay): write it now
        await service.record_booking(session, event.data, now=utcnow())
    else:  # the batch's fast path: written together by service.write_deferred at the end of the batch
        service.defer_booking(session, event.data, now=utcnow())


async def on_booking_cancelled(event: Event[ev.BookingCancelled], session: AsyncSession) -> None:
    await service.record_cancellation(session, event.data, now=utcnow(), tz=settings_of(session).tz)


def _recompute(session: AsyncSession, customer_id: str) -> None:
    service.touch(session, customer_id)  # at the end of the batch


# --- loyalty -------------------------------------------------------------------------------------------


async def on_member_enrolled(event: Event[ev.MemberEnrolled], session: AsyncSession) -> None:
    cid = await service.ensure_customer(session, event.data.customer_id)
    row = await service.member_view(session, cid)
    row.tier = row.tier or event.data.tier


async def on_points_movement(event: Event, session: AsyncSession) -> None:
    cid = await service.ensure_customer(session, event.data.customer_id)
    row = await service.member_view(session, cid)
    row.points_balance = event.data.balance
    if event.type == "points-expired":
        row.expiring_points, row.expiring_on = 0, None
        _recompute(session, cid)


async def on_tier_changed(event: Event[ev.TierChanged], session: AsyncSession) -> None:
    cid = await service.ensure_customer(session, event.data.customer_id)
    row = await service.member_view(session, cid)
    row.tier = event.data.new_tier


async def on_points_expiring(event: Event[ev.PointsExpiring], session: AsyncSession) -> None:
    cid = await service.ensure_customer(session, event.data.customer_id)
    row = await service.member_view(session, cid)
    row.expiring_points, row.expiring_on = event.data.points, event.data.expires_on
    _recompute(session, cid)


# --- complaints ----------------------------------------------------------------------------------------


async def on_complaint_filed(event: Event[ev.ComplaintFiled], session: AsyncSession) -> None:
    cid = await service.ensure_customer(session, event.data.customer_id)
    row = await service.complaint_view(session, event.data.complaint_id, cid)
    row.category, row.severity, row.filed_at = event.data.category, event.data.severity, event.data.filed_at
    _recompute(session, cid)


async def on_complaint_escalated(event: Event[ev.ComplaintEscalated], session: AsyncSession) -> None:
    cid = await service.ensure_customer(session, event.data.customer_id)
    row = await service.complaint_view(session, event.data.complaint_id, cid)
    row.severity = event.data.severity


async def on_complaint_resolved(event: Event[ev.ComplaintResolved], session: AsyncSession) -> None:
    cid = await service.ensure_customer(session, event.data.customer_id)
    row = await service.complaint_view(session, event.data.complaint_id, cid)
    row.status, row.sla_met, row.category, row.severity = "resolved", event.data.sla_met, event.data.category, event.data.severity
    _recompute(session, cid)


async def on_complaint_closed(event: Event[ev.ComplaintClosed], session: AsyncSession) -> None:
    cid = await service.ensure_customer(session, event.data.customer_id)
    row = await service.complaint_view(session, event.data.complaint_id, cid)
    row.status, row.satisfied = "closed", event.data.satisfied
    _recompute(session, cid)


async def on_complaint_reopened(event: Event[ev.ComplaintReopened], session: AsyncSession) -> None:
    cid = await service.ensure_customer(session, event.data.customer_id)
    row = await service.complaint_view(session, event.data.complaint_id, cid)
    row.status = "open"
    _recompute(session, cid)


# --- feedback ------------------------------------------------------------------------------------------


async def on_feedback_submitted(event: Event[ev.FeedbackSubmitted], session: AsyncSession) -> None:
    cid = await service.ensure_customer(session, event.data.customer_id)
    row = await session.get(FeedbackView, event.data.response_id)
    if row is None:
        row = FeedbackView(response_id=event.data.response_id, customer_id=cid, submitted_at=event.data.submitted_at)
        session.add(row)
    row.nps, row.csat, row.sentiment = event.data.nps, event.data.csat, event.data.sentiment
    row.detractor = row.detractor or (event.data.nps is not None and event.data.nps <= 6)
    _recompute(session, cid)


async def on_detractor_detected(event: Event[ev.DetractorDetected], session: AsyncSession) -> None:
    cid = await service.ensure_customer(session, event.data.customer_id)
    row = await session.get(FeedbackView, event.data.response_id)
    if row is None:  # the comment excerpt is never kept here
        row = FeedbackView(response_id=event.data.response_id, customer_id=cid, nps=event.data.nps,
                           submitted_at=event.time)
        session.add(row)
    row.detractor = True
    _recompute(session, cid)


# --- data rights ---------------------------------------------------------------------------------------


async def on_customer_data_erased(event: Event[ev.CustomerDataErased], session: AsyncSession) -> None:
    await service.record_erasure_confirmation(session, event.data)
