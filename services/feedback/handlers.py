"""Handlers of the events the feedback service consumes: one use case each; they never commit.

The inbox makes a redelivered event change nothing; the use cases are also keyed on business ids
(an invitation's business key, a complaint id), so a producer retrying with a new event id changes
nothing either.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.feedback import invitations
from services.feedback import repository as repo
from services.feedback.models import SurveyCustomer
from shared.db import utcnow
from shared.rows import upsert_rows
from shared.staging import Staged
from shared.events import (
    BookingCancelled, BookingCompleted, ComplaintClosed, ComplaintFiled, ComplaintReopened, ComplaintResolved,
    ConsentChanged, CustomerRegistered, CustomerUpdated, Event, MemberEnrolled, PointsEarned, TierChanged,
)


async def on_booking_completed(event: Event[BookingCompleted], session: AsyncSession) -> None:
    """Staged: SPEC.after_batch (`invitations.POST_TRIPS.apply`) writes the batch's invitations at once."""
    invitations.POST_TRIPS.stage(session, (event.data, utcnow()))


async def on_booking_cancelled(event: Event[BookingCancelled], session: AsyncSession) -> None:
    await invitations.cancel_for_booking(session, event.data, utcnow())


async def on_complaint_filed(event: Event[ComplaintFiled], session: AsyncSession) -> None:
    await invitations.complaint_opened(session, event.data, utcnow())


async def on_complaint_reopened(event: Event[ComplaintReopened], session: AsyncSession) -> None:
    await invitations.complaint_opened(session, event.data, utcnow())


async def on_complaint_resolved(event: Event[ComplaintResolved], session: AsyncSession) -> None:
    await invitations.schedule_follow_up(session, event.data, utcnow())


async def on_complaint_closed(event: Event[ComplaintClosed], session: AsyncSession) -> None:
    await invitations.complaint_closed(session, event.data)


async def on_consent_changed(event: Event[ConsentChanged], session: AsyncSession) -> None:
    await invitations.consent_changed(session, event.data)


async def on_customer_profile(event: Event[CustomerRegistered] | Event[CustomerUpdated], session: AsyncSession) -> None:
    """Only the preferred language is kept: the survey's language."""
    if event.data.preferred_language:
        person = await repo.customer(session, event.data.customer_id, create=True)
        person.language = event.data.preferred_language[:20]


async def _write_tiers(session: AsyncSession, staged: list[tuple[str, str]]) -> None:
    """The staged tiers, the last of each customer, by one upsert of their survey rows."""
    await upsert_rows(session, SurveyCustomer, [{"customer_id": cid, "tier": tier} for cid, tier in dict(staged).items()])


# member-enrolled, tier-changed (one or two per new member): staged by on_tier, written in one statement by the batch's
# end (SPEC.after_batch) or by the next event of another type (TIERS.in_order), so events keep their order
TIERS = Staged("feedback.tiers", _write_tiers)


async def on_tier(event: Event[MemberEnrolled] | Event[TierChanged], session: AsyncSession) -> None:
    """The member's tier: scores by tier, and who gets the periodic member survey."""
    TIERS.stage(session, (event.data.customer_id, getattr(event.data, "new_tier", None) or event.data.tier))


def is_referral(event: Event[PointsEarned]) -> bool:
    """The only points-earned events this service acts on (the others need no staged queue applied first)."""
    return event.data.kind == "referral"


async def on_points_earned(event: Event[PointsEarned], session: AsyncSession) -> None:
    """Referral points mark the referrer, and the customer they referred (word of mouth among promoters)."""
    if is_referral(event):
        person = await repo.customer(session, event.data.customer_id, create=True)
        person.referrer = True
        if event.data.referee_id:
            (await repo.customer(session, event.data.referee_id, create=True)).referred = True
