"""Member events (会员活动): member days and trips for members. Staff create an event (date, capacity,
eligible tiers, attendance points); members register once, within capacity and if their tier is eligible;
staff mark attendance, which awards the attendance points once, through the ledger (business key
`event:<event>:<customer>`): a repeated call finds the registration attended and awards nothing more.

The event's row is locked while a registration counts against its capacity, so two members can never
take the last place together.
"""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import and_, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import bonuses, repository
from services.loyalty.checkout_schemas import MemberEventCreate
from services.loyalty.models import EventRegistration, MemberEvent
from services.loyalty.rules import effective_tier
from shared.db import new_id
from shared.errors import Conflict, NotFound, Unprocessable
from shared.pages import decode_cursor


async def create(session: AsyncSession, body: MemberEventCreate, now: datetime) -> MemberEvent:
    """A new member event (staff)."""
    if body.held_on < repository.local_date(session, now):
        raise Unprocessable("the event is in the past", field="held_on")
    event = MemberEvent(id=new_id(), name=body.name, kind=body.kind, held_on=body.held_on, capacity=body.capacity,
                        tiers=json.dumps(body.tiers), attendance_points=body.attendance_points, created_at=now)
    session.add(event)
    await session.flush()
    return event


async def require(session: AsyncSession, event_id: str, *, lock: bool = False) -> MemberEvent:
    found = await session.get(MemberEvent, event_id, with_for_update=lock, populate_existing=lock)
    if found is None:
        raise NotFound("member event", event_id)
    return found


async def listing(session: AsyncSession, cursor: str | None, limit: int) -> list[MemberEvent]:
    """Events by date (then id), after the cursor's (held_on, id); `limit` rows."""
    after = decode_cursor(cursor, date, str)
    query = select(MemberEvent)
    if after is not None:
        day, last = after
        query = query.where(or_(MemberEvent.held_on > day, and_(MemberEvent.held_on == day, MemberEvent.id > last)))
    return list((await session.execute(query.order_by(MemberEvent.held_on, MemberEvent.id).limit(limit))).scalars())


async def _registration(session: AsyncSession, event_id: str, customer_id: str) -> EventRegistration | None:
    return (await session.execute(select(EventRegistration).where(
        EventRegistration.event_id == event_id, EventRegistration.customer_id == customer_id)
        .execution_options(populate_existing=True))).scalar_one_or_none()


async def register(session: AsyncSession, event_id: str, customer_id: str,
                   now: datetime) -> tuple[EventRegistration, bool]:
    """A member registers, once: (the registration, created). Full, past or not for the member's tier: 409."""
    member = await repository.require_member(session, customer_id)
    event = await require(session, event_id, lock=True)
    found = await _registration(session, event_id, member.customer_id)
    if found is not None:
        return found, False
    today = repository.local_date(session, now)
    if event.held_on < today:
        raise Conflict(f"member event {event_id} is over", code="event_over")
    tiers = json.loads(event.tiers)
    tier = effective_tier(await repository.account_of(session, member), today)
    if tiers and tier not in tiers:
        raise Conflict(f"member event {event_id} is for {', '.join(tiers)} members, not {tier}", code="not_eligible")
    if event.registered >= event.capacity:
        raise Conflict(f"member event {event_id} is full ({event.capacity} places)", code="event_full")
    event.registered += 1
    registration = EventRegistration(event_id=event_id, customer_id=member.customer_id, registered_at=now)
    session.add(registration)
    await session.flush()
    return registration, True


async def attend(session: AsyncSession, event_id: str, customer_id: str, actor: str,
                 now: datetime) -> EventRegistration:
    """Staff mark a registered member present: the attendance points are credited once."""
    event = await require(session, event_id)
    member = await repository.require_member(session, customer_id, lock=True)
    registration = await _registration(session, event_id, member.customer_id)
    if registration is None:
        raise Conflict(f"{customer_id} is not registered for member event {event_id}", code="not_registered")
    if registration.status == "attended":
        return registration
    key = f"event:{event_id}:{member.customer_id}"
    if event.attendance_points > 0 and not await repository.entry_exists(session, key):
        await bonuses.credit(session, member, member.customer_id, event.attendance_points, now, kind="bonus",
                             event="bonus", cause_type="member_event", cause_id=event_id, business_key=key,
                             earned_by=member.customer_id, actor=actor,
                             reason=f"attended member event {event.name}"[:500])
        registration.points = event.attendance_points
    registration.status, registration.attended_at = "attended", now
    await session.flush()
    return registration
