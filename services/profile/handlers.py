"""Handlers of the events profile consumes; they change rows in the consumer's transaction and never commit.

Effects are keyed on business ids (booking id, complaint id, response id, request id + service), so a
producer retrying under a new event id changes nothing.

Handlers record facts only (booking-completed, on the consumer's fast path, only notes them for
`bookings.write_deferred`, which writes the batch's bookings together); a customer whose value or churn they may
change is noted with `scoring.touch` and recomputed once per consumed batch by `scoring.recompute_touched` (the
spec's after_batch hooks).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import bookings
from services.profile import repository as repo
from services.profile.bookings import ensure_customer
from services.profile.data_rights import record_erasure_confirmation
from services.profile.models import ComplaintView, FeedbackView, MembershipView
from services.profile.scoring import touch
from shared import events as ev
from shared.db import aware, utcnow
from shared.rows import upsert_rows
from shared.events import Event
from shared.staging import Staged


async def _member_view(session: AsyncSession, customer_id: str) -> MembershipView:
    """What loyalty told us about the customer (behind any merge)."""
    cid = await ensure_customer(session, customer_id)
    row = await session.get(MembershipView, cid)
    if row is None:
        row = MembershipView(customer_id=cid)
        session.add(row)
    row.updated_at = utcnow()
    return row


async def _complaint_view(session: AsyncSession, data: ev.EventData) -> ComplaintView:
    """What complaints told us about this complaint (behind any merge)."""
    cid = await ensure_customer(session, data.customer_id)  # type: ignore[attr-defined]
    row = await session.get(ComplaintView, data.complaint_id)  # type: ignore[attr-defined]
    if row is None:
        row = ComplaintView(complaint_id=data.complaint_id, customer_id=cid, status="open")  # type: ignore[attr-defined]
        session.add(row)
    row.updated_at = utcnow()
    return row


async def on_booking_completed(event: Event[ev.BookingCompleted], session: AsyncSession) -> None:
    if session.in_nested_transaction():  # one event at a time (a failed batch redone, a replay): write it now
        await bookings.record_booking(session, event.data, now=utcnow())
    else:  # the batch's fast path: written together by bookings.write_deferred at the end of the batch
        bookings.defer_booking(session, event.data, now=utcnow())


async def on_booking_cancelled(event: Event[ev.BookingCancelled], session: AsyncSession) -> None:
    await bookings.record_cancellation(session, event.data, now=utcnow())


# --- loyalty -------------------------------------------------------------------------------------------


def _tier_if_none(tier: str) -> Callable[[SimpleNamespace], None]:
    def change(row: SimpleNamespace) -> None:
        row.tier = row.tier or tier
    return change


def _set(**values: object) -> Callable[[SimpleNamespace], None]:
    def change(row: SimpleNamespace) -> None:
        for name, value in values.items():
            setattr(row, name, value)
    return change


async def _write_member_views(session: AsyncSession, staged: list[tuple[str, Callable[[SimpleNamespace], None]]]) -> None:
    """The staged changes of loyalty's frequent events, in their order: the customers' surviving ids (stub files
    for new ones) and their views read by one query each, each change applied to its view's columns, the views
    written back by one upsert (no ORM object per view)."""
    survivors = await bookings.ensure_customers(session, {customer_id for customer_id, _ in staged})
    stored = await repo.columns_of(session, MembershipView, set(survivors.values()))
    views: dict[str, SimpleNamespace] = {}
    for customer_id, change in staged:
        cid = survivors[customer_id]
        if (row := views.get(cid)) is None:
            row = views[cid] = SimpleNamespace(**stored.get(cid) or {
                "customer_id": cid, "tier": None, "points_balance": 0, "expiring_points": 0, "expiring_on": None})
        change(row)
        row.updated_at = utcnow()
    await upsert_rows(session, MembershipView, [vars(row) for row in views.values()])


# member-enrolled, points-earned/-redeemed/-reversed, tier-changed (one or more per booking): staged by their
# handlers, applied by SPEC.after_batch before the batch's bookings and values; every other handler applies them first
MEMBER_VIEWS = Staged("profile.member_views", _write_member_views)


async def on_member_enrolled(event: Event[ev.MemberEnrolled], session: AsyncSession) -> None:
    MEMBER_VIEWS.stage(session, (event.data.customer_id, _tier_if_none(event.data.tier)))


async def on_points_movement(event: Event[ev.PointsEarned | ev.PointsRedeemed | ev.PointsReversed],
                             session: AsyncSession) -> None:
    """points-earned, -redeemed, -reversed: the same effect, the new balance."""
    MEMBER_VIEWS.stage(session, (event.data.customer_id, _set(points_balance=event.data.balance)))


async def on_points_expired(event: Event[ev.PointsExpired], session: AsyncSession) -> None:
    row = await _member_view(session, event.data.customer_id)
    row.points_balance = event.data.balance
    row.expiring_points, row.expiring_on = 0, None
    touch(session, row.customer_id)


async def on_tier_changed(event: Event[ev.TierChanged], session: AsyncSession) -> None:
    MEMBER_VIEWS.stage(session, (event.data.customer_id, _set(tier=event.data.new_tier)))


async def on_points_expiring(event: Event[ev.PointsExpiring], session: AsyncSession) -> None:
    row = await _member_view(session, event.data.customer_id)
    row.expiring_points, row.expiring_on = event.data.points, event.data.expires_on
    touch(session, row.customer_id)


# --- complaints ----------------------------------------------------------------------------------------


async def on_complaint_filed(event: Event[ev.ComplaintFiled], session: AsyncSession) -> None:
    row = await _complaint_view(session, event.data)
    row.category, row.severity, row.filed_at = event.data.category, event.data.severity, aware(event.data.filed_at)
    touch(session, row.customer_id)


async def on_complaint_escalated(event: Event[ev.ComplaintEscalated], session: AsyncSession) -> None:
    row = await _complaint_view(session, event.data)
    row.severity = event.data.severity


async def on_complaint_resolved(event: Event[ev.ComplaintResolved], session: AsyncSession) -> None:
    row = await _complaint_view(session, event.data)
    row.status, row.sla_met, row.category, row.severity = "resolved", event.data.sla_met, event.data.category, event.data.severity
    touch(session, row.customer_id)


async def on_complaint_closed(event: Event[ev.ComplaintClosed], session: AsyncSession) -> None:
    row = await _complaint_view(session, event.data)
    row.status, row.satisfied = "closed", event.data.satisfied
    touch(session, row.customer_id)


async def on_complaint_reopened(event: Event[ev.ComplaintReopened], session: AsyncSession) -> None:
    row = await _complaint_view(session, event.data)
    row.status = "open"
    touch(session, row.customer_id)


# --- feedback ------------------------------------------------------------------------------------------


async def on_feedback_submitted(event: Event[ev.FeedbackSubmitted], session: AsyncSession) -> None:
    cid = await ensure_customer(session, event.data.customer_id)
    row = await session.get(FeedbackView, event.data.response_id)
    if row is None:
        row = FeedbackView(response_id=event.data.response_id, customer_id=cid,
                           submitted_at=aware(event.data.submitted_at))
        session.add(row)
    row.nps, row.csat, row.sentiment = event.data.nps, event.data.csat, event.data.sentiment
    row.detractor = row.detractor or (event.data.nps is not None and event.data.nps <= 6)
    touch(session, cid)


async def on_detractor_detected(event: Event[ev.DetractorDetected], session: AsyncSession) -> None:
    cid = await ensure_customer(session, event.data.customer_id)
    row = await session.get(FeedbackView, event.data.response_id)
    if row is None:  # the comment excerpt is never kept here
        row = FeedbackView(response_id=event.data.response_id, customer_id=cid, nps=event.data.nps,
                           submitted_at=aware(event.time))
        session.add(row)
    row.detractor = True
    touch(session, cid)


# --- data rights ---------------------------------------------------------------------------------------


async def on_customer_data_erased(event: Event[ev.CustomerDataErased], session: AsyncSession) -> None:
    await record_erasure_confirmation(session, event.data)
