"""Invitations: scheduled from bookings and resolved complaints, sent (or suppressed) by the periodic
job, reminded once, expired when unanswered, cancelled with their booking.

Every invitation has a business key (post-trip:<booking>, follow-up:<complaint>, member:<customer>:<half
year>) under a unique constraint: one booking is never surveyed twice, whatever the event ids. The
rules that keep a customer from being asked too often are checked when the invitation is due:
survey consent, an open complaint, the recontact period (not for a complaint's follow-up, which answers
the customer's own complaint), in that order; a suppressed invitation keeps its reason.
"""

from __future__ import annotations

import secrets
from datetime import datetime, time, timedelta

from sqlalchemy import delete, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.feedback import repository as repo
from services.feedback.models import Config, Invitation, OpenComplaint, SurveyCustomer
from services.feedback.templates import TEMPLATE_OF_KIND, elements_of, template
from shared import outbox
from shared.db import aware, insert, new_id, settings_of
from shared.errors import Conflict, NotFound
from shared.staging import Staged
from shared.events import (
    BookingCancelled, BookingCompleted, ComplaintClosed, ComplaintFiled, ComplaintReopened, ComplaintResolved,
    ConsentChanged, SurveyInvited,
)

TRIP_ENDS_AT = time(20, 0)  # a trip is taken to end at 20:00 business time on its last day
LIVE = ("scheduled", "sent")


def _tagged(tags: list[str], prefix: str) -> str | None:
    """`guide:G-7` / `supplier:S-3` in the product's tags: the booking's guide and supplier."""
    return next((t.split(":", 1)[1][:100] for t in tags if t.startswith(prefix + ":") and len(t) > len(prefix) + 1), None)


def trip_end(data: BookingCompleted, tz) -> datetime:  # noqa: ANN001
    if data.travel_end is None:
        return aware(data.completed_at)
    return datetime.combine(data.travel_end, TRIP_ENDS_AT, tzinfo=tz)


async def _new(session: AsyncSession, *, kind: str, key: str, customer_id: str, send_at: datetime, now: datetime,
               **context: object) -> Invitation | None:
    survey = await template(session, TEMPLATE_OF_KIND[kind])
    person = await repo.customer(session, customer_id, create=True)
    invitation = Invitation(token=secrets.token_urlsafe(24), business_key=key, kind=kind, template_id=survey.id,
                            template_version=survey.version, customer_id=customer_id, send_at=send_at,
                            language=person.language or "zh-CN", tier=person.tier, created_at=now, **context)
    return invitation if await repo.add_invitation(session, invitation) else None


async def _schedule_post_trips(session: AsyncSession, staged: list[tuple[BookingCompleted, datetime]]) -> None:
    """The staged post-trip invitations, each due N hours after its trip ends (at once when that has passed),
    set-based: the settings and the template read once, the customers' survey rows made and read by one statement
    each, the invitations written by one INSERT that skips business keys already taken (a booking is surveyed once,
    whatever the event ids)."""
    cfg = await repo.config(session)
    survey = await template(session, TEMPLATE_OF_KIND["post-trip"])
    people = await repo.customers(session, {data.customer_id for data, _ in staged})
    tz, delay = settings_of(session).tz, timedelta(hours=cfg.invite_delay_hours)
    rows: dict[str, dict[str, object]] = {}
    for data, now in staged:
        key = f"post-trip:{data.booking_id}"
        if key in rows:
            continue  # the first copy wins, as a second INSERT of the key would do nothing
        tags, (language, tier) = list(data.product.tags), people[data.customer_id]
        rows[key] = {
            "id": new_id(), "token": secrets.token_urlsafe(24), "business_key": key, "kind": "post-trip",
            "template_id": survey.id, "template_version": survey.version, "customer_id": data.customer_id,
            "booking_id": data.booking_id, "complaint_id": None, "product_id": data.product.id,
            "product_name": data.product.name, "product_kind": data.product.kind,
            "destination": data.product.destination, "guide": _tagged(tags, "guide"),
            "supplier": _tagged(tags, "supplier"), "channel": data.channel, "tier": tier,
            "elements": elements_of(data.product.kind, tags), "language": language or "zh-CN", "status": "scheduled",
            "reason": None, "send_at": max(trip_end(data, tz) + delay, now), "sent_at": None, "reminded_at": None,
            "expires_at": None, "answered_at": None, "created_at": now}
    await repo.add_invitations(session, list(rows.values()))


# booking-completed: staged by its handler, written by SPEC.after_batch (POST_TRIPS.apply) in one go
POST_TRIPS = Staged("feedback.post_trips", _schedule_post_trips)


async def cancel_for_booking(session: AsyncSession, data: BookingCancelled, now: datetime) -> None:
    """A cancelled booking's invitation is cancelled; one not yet scheduled never will be (the key is taken)."""
    existing = await repo.invitation_by_key(session, f"post-trip:{data.booking_id}")
    if existing is None:
        survey = await template(session, TEMPLATE_OF_KIND["post-trip"])
        await repo.add_invitation(session, Invitation(
            token=secrets.token_urlsafe(24), business_key=f"post-trip:{data.booking_id}", kind="post-trip",
            template_id=survey.id, template_version=survey.version, customer_id=data.customer_id,
            booking_id=data.booking_id, status="cancelled", reason="booking-cancelled", send_at=now, created_at=now))
    elif existing.status in LIVE:
        existing.status, existing.reason = "cancelled", "booking-cancelled"


_CONTEXT = ("booking_id", "product_id", "product_name", "product_kind", "destination", "guide", "supplier", "channel")


async def schedule_follow_up(session: AsyncSession, data: ComplaintResolved, now: datetime) -> Invitation | None:
    """The complaint follow-up, due at once, with the complained-about booking's context when the complaint
    named one; the complaint no longer counts as open."""
    complaint = await session.get(OpenComplaint, data.complaint_id)
    booking = complaint.booking_id if complaint else None
    trip = await repo.invitation_by_key(session, f"post-trip:{booking}") if booking else None
    context = {name: getattr(trip, name) for name in _CONTEXT} if trip else {}
    await session.execute(delete(OpenComplaint).where(OpenComplaint.complaint_id == data.complaint_id))
    return await _new(session, kind="follow-up", key=f"follow-up:{data.complaint_id}", customer_id=data.customer_id,
                      send_at=now, now=now, complaint_id=data.complaint_id, elements=[], **context)


async def complaint_opened(session: AsyncSession, data: ComplaintFiled | ComplaintReopened, now: datetime) -> None:
    await repo.customer(session, data.customer_id, create=True)
    opened = getattr(data, "filed_at", None) or getattr(data, "reopened_at", None) or now
    await session.execute(insert(session, OpenComplaint).values(
        complaint_id=data.complaint_id, customer_id=data.customer_id, opened_at=aware(opened),
        booking_id=getattr(data, "booking_id", None))
        .on_conflict_do_nothing(index_elements=["complaint_id"]))


async def complaint_closed(session: AsyncSession, data: ComplaintClosed) -> None:
    await session.execute(delete(OpenComplaint).where(OpenComplaint.complaint_id == data.complaint_id))


async def consent_changed(session: AsyncSession, data: ConsentChanged) -> None:
    if data.purpose != "surveys":
        return
    person = await repo.customer(session, data.customer_id, create=True)
    if data.status == "granted":
        person.survey_consent, person.consent_channel = True, data.channel
    elif person.consent_channel in (None, data.channel):  # the channel surveys went through is withdrawn
        person.survey_consent, person.consent_channel = False, None


def _suppressed(invitation: Invitation, person: SurveyCustomer, cfg: Config, open_complaint: bool,
                last: datetime | None, now: datetime) -> str | None:
    if person.survey_consent is False or (person.survey_consent is None and cfg.consent_required):
        return "no-consent"
    if open_complaint and invitation.kind != "follow-up":
        return "open-complaint"
    if invitation.kind != "follow-up" and last is not None and last > now - timedelta(days=cfg.recontact_days):
        return "recontact-period"
    return None


def _invited(invitation: Invitation, person: SurveyCustomer, cfg: Config, *, reminder: bool) -> SurveyInvited:
    channel = person.consent_channel or ("app-push" if invitation.channel == "app" else "sms")
    return SurveyInvited(survey_id=invitation.id, customer_id=invitation.customer_id,
                         kind=invitation.kind,  # type: ignore[arg-type]
                         channel=channel, language=invitation.language, link=cfg.link_base + invitation.token,
                         send_at=invitation.reminded_at if reminder else invitation.sent_at,  # type: ignore[arg-type]
                         token=invitation.token, template=invitation.template_id, booking_id=invitation.booking_id,
                         complaint_id=invitation.complaint_id, expires_at=invitation.expires_at, reminder=reminder)


def quiet(cfg: Config, now: datetime, tz) -> bool:  # noqa: ANN001
    """Whether `now` falls in the quiet hours (business time), when nothing is sent to customers."""
    start, end, hour = cfg.quiet_from_hour, cfg.quiet_until_hour, now.astimezone(tz).hour
    return start != end and (start <= hour < end if start < end else hour >= start or hour < end)


async def send_due(session: AsyncSession, now: datetime, *, even_in_quiet_hours: bool = False) -> dict[str, int]:
    """Send (or suppress) the invitations that are due: survey-invited for each one sent. In the quiet hours
    they wait for the morning, unless staff send them now."""
    cfg = await repo.config(session)
    done = {"sent": 0, "suppressed": 0}
    if not even_in_quiet_hours and quiet(cfg, now, settings_of(session).tz):
        return done
    for invitation in await repo.due(session, now):
        person = await repo.customer(session, invitation.customer_id, create=True)
        last = await repo.last_contact(session, invitation.customer_id)
        reason = _suppressed(invitation, person, cfg, await repo.has_open_complaint(session, invitation.customer_id),
                             last, now)
        if reason:
            invitation.status, invitation.reason = "suppressed", reason
            done["suppressed"] += 1
            continue
        invitation.status, invitation.sent_at = "sent", now
        invitation.expires_at = now + timedelta(days=cfg.expiry_days)
        person.last_invited_at = now
        outbox.emit(session, _invited(invitation, person, cfg, reminder=False), invitation.customer_id)
        await session.flush()  # the next due invitation of this customer sees this contact
        done["sent"] += 1
    return done


async def remind_and_expire(session: AsyncSession, now: datetime) -> dict[str, int]:
    """One reminder for an unanswered invitation, then expiry."""
    cfg = await repo.config(session)
    expired = await repo.expire(session, now)
    reminded = 0
    if quiet(cfg, now, settings_of(session).tz):
        return {"expired": expired, "reminded": 0}
    for invitation in await repo.to_remind(session, now - timedelta(days=cfg.reminder_after_days), now):
        person = await repo.customer(session, invitation.customer_id, create=True)
        if _suppressed(invitation, person, cfg, await repo.has_open_complaint(session, invitation.customer_id), None, now):
            continue  # no reminder to a customer who withdrew consent or complained meanwhile
        invitation.reminded_at = now
        outbox.emit(session, _invited(invitation, person, cfg, reminder=True), invitation.customer_id)
        reminded += 1
    return {"expired": expired, "reminded": reminded}


async def schedule_member_surveys(session: AsyncSession, now: datetime) -> int:
    """The periodic member survey: once in each half of the year, for members of the configured tiers."""
    cfg = await repo.config(session)
    if not cfg.member_survey_enabled or not cfg.member_survey_tiers:
        return 0
    local = now.astimezone(settings_of(session).tz)
    half = f"{local.year}H{1 if local.month <= 6 else 2}"
    made = 0
    for customer_id in await repo.unsurveyed_members(session, cfg.member_survey_tiers, half):
        made += await _new(session, kind="member", key=f"member:{customer_id}:{half}", customer_id=customer_id,
                           send_at=now, now=now, elements=["guide", "value", "expectations"]) is not None
    return made


async def cancel(session: AsyncSession, invitation_id: str, now: datetime) -> Invitation:
    """Staff cancel an invitation not yet answered."""
    invitation = await session.get(Invitation, invitation_id)
    if invitation is None:
        raise NotFound("invitation", invitation_id)
    if invitation.status not in LIVE:
        raise Conflict(f"invitation {invitation_id} is {invitation.status}; only scheduled or sent ones can be cancelled",
                       invitation_status=invitation.status)
    await session.execute(update(Invitation).where(Invitation.id == invitation_id)
                          .values(status="cancelled", reason="cancelled-by-staff")
                          .execution_options(synchronize_session=False))
    await session.refresh(invitation)
    return invitation
