"""What the complaints service does with the events it consumes; one function per event, never commits.

Effects are keyed on business ids (booking id, survey response id, complaint id), so a producer
retrying with a new event id changes nothing.
"""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from services.complaints import handling, intake, survey_comments
from services.complaints import repository as R
from services.complaints.models import BookingFact, ConsentFact
from services.complaints.records import note
from services.complaints.schemas import TransitionIn
from shared.db import aware, insert, settings_of, utcnow
from shared.rows import upsert_rows
from shared.events import BookingCancelled, BookingCompleted, ConsentChanged, DetractorDetected, Event, FeedbackSubmitted
from shared.staging import Staged

log = logging.getLogger(__name__)


async def on_booking_completed(event: Event[BookingCompleted], session: AsyncSession) -> None:
    """Staged: SPEC.after_batch (`BOOKINGS.apply`) writes the batch's booking facts at once."""
    data = event.data
    BOOKINGS.stage(session, {
        "booking_id": data.booking_id, "customer_id": data.customer_id, "product_id": data.product.id,
        "destination": data.product.destination, "travel_start": data.travel_start, "travel_end": data.travel_end,
        "completed_at": aware(data.completed_at), "cancelled": False})


async def _write_bookings(session: AsyncSession, staged: list[dict[str, object]]) -> None:
    """The staged booking facts by one upsert (`shared.rows.upsert_rows`); of two copies of a booking in the batch
    the later wins, as one upsert after the other would have it."""
    await upsert_rows(session, BookingFact, staged, key="booking_id")


# booking-completed: staged by its handler, written by SPEC.after_batch in one statement per batch
BOOKINGS = Staged("complaints.bookings", _write_bookings)


async def on_booking_cancelled(event: Event[BookingCancelled], session: AsyncSession) -> None:
    booking = await session.get(BookingFact, event.data.booking_id)
    if booking is not None:
        booking.cancelled = True
        session.add(booking)


async def on_consent_changed(event: Event[ConsentChanged], session: AsyncSession) -> None:
    """Consent to service messages per channel (crisis notices go only where it is granted)."""
    data = event.data
    if data.purpose != "service":
        return
    table = ConsentFact.__table__
    row = {"customer_id": data.customer_id, "channel": data.channel, "granted": data.status == "granted",
           "changed_at": aware(data.changed_at)}
    await session.execute(insert(session, table).values(row).on_conflict_do_update(
        index_elements=[table.c.customer_id, table.c.channel], set_={"granted": row["granted"],
                                                                     "changed_at": row["changed_at"]},
        where=table.c.changed_at <= row["changed_at"]))


async def on_detractor_detected(event: Event[DetractorDetected], session: AsyncSession) -> None:
    if await intake.recovered(session, event.data.response_id):
        return
    comment = await survey_comments.read(settings_of(session), event.data.customer_id, event.data.response_id)
    complaint = await intake.recover(session, event.data, comment, utcnow())
    if complaint is not None:
        log.info("service-recovery complaint opened", extra={"complaint_id": complaint.id})


def unhappy(data: FeedbackSubmitted) -> bool | None:
    """Whether a follow-up answer says the customer is still unhappy (None: it says nothing)."""
    if data.nps is not None:
        return data.nps <= 6
    if data.csat is not None:
        return data.csat < 3.5
    if data.sentiment is not None:
        return data.sentiment < 0
    return None


async def on_feedback_submitted(event: Event[FeedbackSubmitted], session: AsyncSession) -> None:
    """A follow-up answer: recorded on the complaint; an unhappy one reopens it, a happy one closes it.

    The complaint is the one the answer names (`complaint_id`, when feedback sends it) or else, for an
    answer that does not say it is of another kind, the customer's latest complaint waiting for its
    follow-up answer (resolved or in follow-up)."""
    data = event.data
    complaint_id = getattr(data, "complaint_id", None)
    if complaint_id is None and getattr(data, "kind", "follow-up") != "follow-up":
        return  # a post-trip or member survey answer, not a follow-up
    complaint = (await R.find(session, complaint_id) if complaint_id else
                 await R.latest_awaiting_answer(session, data.customer_id))
    if complaint is not None and complaint.customer_id != data.customer_id:
        complaint = None  # an answer never touches another customer's complaint
    verdict = True if getattr(data, "detractor", False) else unhappy(data)
    if complaint is None or complaint.state not in ("resolved", "follow_up") or verdict is None:
        return
    now = utcnow()
    complaint.satisfied = not verdict
    note(session, complaint, "feedback", "feedback", now,
         f"follow-up answer {data.response_id}: nps={data.nps} csat={data.csat} → "
         + ("unhappy" if verdict else "satisfied"))
    if verdict:
        await handling.transition(session, complaint, TransitionIn(to="investigating",
                                                                   reason="unhappy follow-up answer"),
                                  actor="feedback", now=now)
        return
    if complaint.state == "resolved":
        await handling.transition(session, complaint, TransitionIn(to="follow_up"), actor="feedback", now=now)
    await handling.transition(session, complaint, TransitionIn(to="closed"), actor="feedback", now=now)
