"""Members: enrol, view, roster, statement, tier override; referral codes and referees."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from services.loyalty import member_reads, members, referrals, repository, tiers
from services.loyalty.schemas import (
    Id, MemberCreate, MemberPublic, RefereeCreate, ReferralCodeCreate, ReferralCodePublic, ReferralPublic, Referrals,
    Roster, Statement, TierOverride, referral_public,
)
from shared.app import ReadSessionDep, RuntimeDep, UnitOfWork
from shared.auth import Scope
from shared.db import utcnow
from shared.errors import Conflict
from shared.pages import Cursor, Limit

router = APIRouter(prefix="/v1", tags=["loyalty"])


@router.post("/members", status_code=201, response_model=MemberPublic,
             responses={200: {"model": MemberPublic, "description": "a member already (the same type)"}})
async def create_member(body: MemberCreate, client: Scope("loyalty:redeem", customers=True), session: UnitOfWork,
                        response: Response) -> MemberPublic:
    """Enrol a customer (with a family's or enterprise's roster); 200 when already a member of that type."""
    client.ensure_reaches(body.customer_id, "customer", body.customer_id)
    member, created = await members.enrol(session, body.customer_id, utcnow(), member_type=body.member_type,
                                          points_to=body.points_to, roster=body.members,
                                          organisation_id=body.organisation_id)
    if not created and member.member_type != body.member_type:
        raise Conflict(f"{body.customer_id} is already a {member.member_type} member")
    await session.flush()
    response.status_code = 201 if created else 200
    return await members.view(session, member)


@router.get("/members/{customer_id}", response_model=MemberPublic)
async def get_member(customer_id: Id, client: Scope("loyalty:read", customers=True), runtime: RuntimeDep) -> MemberPublic:
    return await member_reads.member(runtime.engine, runtime.settings, customer_id)


@router.post("/members/{customer_id}/roster", response_model=MemberPublic)
async def add_roster(customer_id: Id, body: Roster, client: Scope("loyalty:admin"), session: UnitOfWork) -> MemberPublic:
    head = await repository.require_member(session, customer_id, lock=True)
    await members.add_to_roster(session, head, body.members, utcnow())
    await session.flush()
    return await members.view(session, head)


@router.get("/members/{customer_id}/ledger", response_model=Statement)
async def statement(customer_id: Id, client: Scope("loyalty:read", customers=True), session: ReadSessionDep, cursor: Cursor = None,
                    limit: Limit = 50) -> Statement:
    """The account's entries, newest first; `next_cursor` fetches the next (older) page."""
    return await members.statement(session, customer_id, cursor, limit)


@router.post("/members/{customer_id}/tier-override", response_model=MemberPublic)
async def tier_override(customer_id: Id, body: TierOverride, client: Scope("loyalty:admin"),
                        session: UnitOfWork) -> MemberPublic:
    member = await tiers.override_tier(session, customer_id, body.tier, body.until, body.reason, client.name, utcnow())
    return await members.view(session, member)


@router.post("/referrals", status_code=201, response_model=ReferralCodePublic)
async def create_referral_code(body: ReferralCodeCreate, client: Scope("loyalty:redeem", customers=True),
                               session: UnitOfWork) -> ReferralCodePublic:
    client.ensure_reaches(body.customer_id, "customer", body.customer_id)
    return ReferralCodePublic.model_validate(await referrals.referral_code(session, body.customer_id, utcnow()))


@router.post("/referrals/{code}/referees", status_code=201, response_model=ReferralPublic)
async def add_referee(code: str, body: RefereeCreate, client: Scope("loyalty:redeem", customers=True),
                      session: UnitOfWork) -> ReferralPublic:
    client.ensure_reaches(body.customer_id, "customer", body.customer_id)  # the signed-in newcomer
    return referral_public(await referrals.refer(session, code, body.customer_id, utcnow()))


@router.get("/referrals", response_model=Referrals)
async def list_referrals(client: Scope("loyalty:read", customers=True), session: ReadSessionDep,
                         customer_id: Annotated[str, Query(min_length=1, max_length=100)],
                         cursor: Cursor = None, limit: Limit = 50) -> Referrals:
    """A member's referral code and referrals, oldest first."""
    client.ensure_reaches(customer_id, "customer", customer_id)
    return await referrals.referrals(session, customer_id, cursor, limit)
