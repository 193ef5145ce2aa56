"""Member events (会员活动): staff create them and mark attendance; members register."""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.loyalty import member_events
from services.loyalty.checkout_schemas import (
    MemberEventCreate, MemberEventPublic, RegistrationCreate, RegistrationPublic, member_event_public,
    registration_public,
)
from services.loyalty.schemas import Id
from shared.app import ReadSessionDep, UnitOfWork
from shared.auth import Scope
from shared.db import utcnow
from shared.pages import Cursor, Limit, Page, page_of

router = APIRouter(prefix="/v1", tags=["loyalty"])


@router.post("/member-events", status_code=201, response_model=MemberEventPublic)
async def create_member_event(body: MemberEventCreate, client: Scope("loyalty:admin"),
                              session: UnitOfWork) -> MemberEventPublic:
    """A member day or trip for members: date, capacity, eligible tiers (none: all), attendance points."""
    return member_event_public(await member_events.create(session, body, utcnow()))


@router.get("/member-events", response_model=Page[MemberEventPublic])
async def list_member_events(client: Scope("loyalty:read", customers=True), session: ReadSessionDep,
                             cursor: Cursor = None, limit: Limit = 50) -> Page[MemberEventPublic]:
    """Member events by date; `next_cursor` fetches the next page."""
    rows = await member_events.listing(session, cursor, limit + 1)
    return page_of(rows, limit, key=lambda e: (e.held_on, e.id), item=member_event_public)


@router.get("/member-events/{event_id}", response_model=MemberEventPublic)
async def get_member_event(event_id: Id, client: Scope("loyalty:read", customers=True),
                           session: ReadSessionDep) -> MemberEventPublic:
    return member_event_public(await member_events.require(session, event_id))


@router.post("/member-events/{event_id}/registrations", status_code=201, response_model=RegistrationPublic,
             responses={200: {"model": RegistrationPublic, "description": "registered already"}})
async def register(event_id: Id, body: RegistrationCreate, client: Scope("loyalty:redeem", customers=True),
                   session: UnitOfWork, response: Response) -> RegistrationPublic:
    """A member registers, once; 409 when the event is full, over, or not for the member's tier."""
    client.ensure_reaches(body.customer_id, "customer", body.customer_id)
    registration, created = await member_events.register(session, event_id, body.customer_id, utcnow())
    response.status_code = 201 if created else 200
    return registration_public(registration)


@router.post("/member-events/{event_id}/attendance", response_model=RegistrationPublic)
async def attend(event_id: Id, body: RegistrationCreate, client: Scope("loyalty:admin"),
                 session: UnitOfWork) -> RegistrationPublic:
    """Staff mark a registered member present: the attendance points are credited once."""
    return registration_public(await member_events.attend(session, event_id, body.customer_id, client.name, utcnow()))
