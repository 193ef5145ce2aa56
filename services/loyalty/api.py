"""HTTP routes of the loyalty service: parse, authorise, call a use case, shape the answer.

Points are integers; money is a decimal string; times are UTC. POSTs that move points take an
`Idempotency-Key` (redemptions, adjustments); capture and release are idempotent by state.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import ledger as L
from services.loyalty import service
from services.loyalty.models import (
    Booking, Campaign, CampaignAward, LedgerEntry, Lot, Member, Offer, ProgrammeVersion, Redemption, Referral,
    ReferralCode, Reward,
)
from services.loyalty.programme import TIERS, Programme, TierName, tier_rank
from shared import idempotency
from shared.app import ReadSessionDep, RuntimeDep
from shared.auth import Scope
from shared.db import transaction, utcnow
from shared.errors import Conflict, NotFound, Unprocessable
from shared.lane import lane

router = APIRouter(prefix="/v1", tags=["loyalty"])
T = TypeVar("T")
CustomerPath = Annotated[str, Field(min_length=1, max_length=100)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


def iso(moment: datetime) -> str:
    return moment.isoformat()


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


async def unit(runtime, action: Callable[[AsyncSession], Awaitable[T]]) -> T:  # noqa: ANN001
    """One use case in one transaction; a unique-key race with a concurrent twin is retried once."""
    for attempt in range(3):
        try:
            async with transaction(runtime.sessions) as session:
                return await action(session)
        except IntegrityError:
            if attempt == 2:
                raise Conflict("a concurrent request changed the same record; retry") from None
    raise AssertionError("unreachable")


async def idempotent(runtime, request: Request, client, key: str | None, body: dict[str, Any],  # noqa: ANN001
                     action: Callable[[AsyncSession], Awaitable[tuple[int, Any]]]) -> JSONResponse:
    """The Idempotency-Key protocol (shared.idempotency.run_once): the key is claimed before the action runs,
    so a concurrent twin waits on it and then replays the first answer."""
    key = idempotency.validate_key(key)
    digest = idempotency.request_hash(request.method, request.url.path, body)
    replay = await idempotency.run_once(runtime.sessions, client=client.name, key=key, digest=digest, action=action)
    return JSONResponse(replay.body, status_code=replay.status_code, headers={"Idempotency-Key": key})


# --- programme -------------------------------------------------------------------------------------


class ProgrammeChange(Body):
    programme: Programme
    reason: str = Field(min_length=3, max_length=500)


@router.get("/programme")
async def get_programme(client: Scope("loyalty:read"), session: ReadSessionDep) -> dict[str, Any]:
    version, prog = await L.programme(session)
    return {"version": version, "programme": prog.model_dump(mode="json")}


@router.put("/programme")
async def put_programme(body: ProgrammeChange, client: Scope("loyalty:admin"), runtime: RuntimeDep) -> dict[str, Any]:
    version = await unit(runtime, lambda s: service.set_programme(s, body.programme, client.name, body.reason, utcnow()))
    return {"version": version, "programme": body.programme.model_dump(mode="json")}


@router.get("/programme/versions")
async def programme_versions(client: Scope("loyalty:admin"), session: ReadSessionDep) -> dict[str, Any]:
    rows = (await session.execute(select(ProgrammeVersion).order_by(ProgrammeVersion.version.desc()))).scalars()
    return {"items": [{"version": r.version, "actor": r.actor, "reason": r.reason, "created_at": iso(r.created_at)}
                      for r in rows]}


# --- members ---------------------------------------------------------------------------------------


class MemberCreate(Body):
    customer_id: str = Field(min_length=1, max_length=100)
    member_type: Literal["individual", "family", "enterprise"] = "individual"
    members: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list, max_length=500,
                                                                              description="family members or travellers")
    points_to: Literal["account", "traveller"] = Field(
        default="account", description="enterprise: points pool in the account, or stay with each traveller")

    @model_validator(mode="after")
    def _roster(self) -> MemberCreate:
        if self.members and self.member_type == "individual":
            raise ValueError("only family and enterprise members have members")
        return self


class Roster(Body):
    members: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(min_length=1, max_length=500)


async def member_view(session: AsyncSession, member: Member) -> dict[str, Any]:
    now = utcnow()
    today = L.local_date(session, now)
    prog = (await L.programme(session))[1]
    account = await L.account_of(session, member)
    held_rows = list((await session.execute(
        select(Redemption).where(Redemption.customer_id == account.customer_id, Redemption.status == "held",
                                 Redemption.expires_at > now).order_by(Redemption.created_at)
    )).scalars())
    held = sum(r.points for r in held_rows)
    expiring = (await session.execute(
        select(Lot.expires_on, func.sum(Lot.remaining)).where(
            Lot.customer_id == account.customer_id, Lot.remaining > 0,
            Lot.expires_on <= today + timedelta(days=prog.notice_days))
        .group_by(Lot.expires_on).order_by(Lot.expires_on)
    )).all()
    stats = await service.qualification(session, account.customer_id, prog, now)
    tier = L.effective_tier(account, today)
    rank = tier_rank(account.tier)
    progress: dict[str, Any] = {
        "qualifying": {"points": stats["points"], "spend": str(stats["spend"]), "trips": stats["trips"],
                       "window_months": prog.window_months},
        "review_on": account.next_review_on.isoformat(),
        "qualifies_for": service.qualified_tier(prog, stats),
    }
    if rank + 1 < len(TIERS):
        nxt = prog.tiers[rank + 1]
        progress["next_tier"] = nxt.name
        progress["to_next"] = {
            "points": max(0, nxt.qualifying_points - stats["points"]) if nxt.qualifying_points is not None else None,
            "spend": str(max(Decimal(0), nxt.spend - stats["spend"])) if nxt.spend is not None else None,
            "trips": max(0, nxt.trips - stats["trips"]) if nxt.trips is not None else None,
        }
    if rank > 0:
        progress["to_keep"] = service._missing(prog, account.tier, stats)  # noqa: SLF001
    roster = list((await session.execute(
        select(Member.customer_id).where(Member.account_id == account.customer_id, Member.status == "active")
    )).scalars())
    return {
        "customer_id": member.customer_id,
        "account_id": account.customer_id,
        "member_type": account.member_type,
        "points_to": account.points_to,
        "roster": roster,
        "tier": tier,
        "tier_label": prog.tier(tier).label,
        "tier_override": ({"tier": account.tier_override, "until": account.tier_override_until.isoformat()}
                          if tier != account.tier else None),
        "points_balance": account.balance,
        "points_available": account.balance - held,
        "points_held": held,
        "debt": account.debt,
        "pending_holds": [redemption_view(r) for r in held_rows],
        "expiring_soon": [{"points": int(p), "expires_on": d.isoformat()} for d, p in expiring],
        "tier_progress": progress,
        "benefits": prog.tier(tier).benefits.model_dump(mode="json"),
        "segments": L.segments_of(account),
        "enrolled_at": iso(member.enrolled_at),
    }


@router.post("/members", status_code=201)
async def create_member(body: MemberCreate, client: Scope("loyalty:redeem"), runtime: RuntimeDep) -> JSONResponse:
    async def action(session: AsyncSession) -> tuple[bool, dict[str, Any]]:
        member, created = await service.enrol(session, body.customer_id, utcnow(), member_type=body.member_type,
                                              points_to=body.points_to, roster=body.members)
        if not created and member.member_type != body.member_type:
            raise Conflict(f"{body.customer_id} is already a {member.member_type} member")
        await session.flush()
        return created, await member_view(session, member)

    created, view = await unit(runtime, action)
    return JSONResponse(view, status_code=201 if created else 200)


@router.get("/members/{customer_id}")
async def get_member(customer_id: CustomerPath, client: Scope("loyalty:read"), session: ReadSessionDep) -> dict[str, Any]:
    return await member_view(session, await service.require_member(session, customer_id))


@router.post("/members/{customer_id}/roster")
async def add_roster(customer_id: CustomerPath, body: Roster, client: Scope("loyalty:admin"),
                     runtime: RuntimeDep) -> dict[str, Any]:
    async def action(session: AsyncSession) -> dict[str, Any]:
        head = await service.require_member(session, customer_id, lock=True)
        await service.add_to_roster(session, head, body.members, utcnow())
        await session.flush()
        return await member_view(session, head)

    return await unit(runtime, action)


def entry_view(e: LedgerEntry) -> dict[str, Any]:
    return {"id": str(e.id), "kind": e.kind, "points": e.points, "cause": {"type": e.cause_type, "id": e.cause_id},
            "earned_by": e.earned_by, "reason": e.reason, "note": e.note, "actor": e.actor,
            "created_at": iso(e.created_at)}


@router.get("/members/{customer_id}/ledger")
async def statement(
    customer_id: CustomerPath, client: Scope("loyalty:read"), session: ReadSessionDep,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The account's entries, newest first; `next_cursor` fetches the next (older) page."""
    member = await service.require_member(session, customer_id)
    account = await L.account_of(session, member)
    query = select(LedgerEntry).where(LedgerEntry.customer_id == account.customer_id)
    if cursor is not None:
        if not cursor.isdigit():
            raise Unprocessable("cursor is not one this API gave out", field="cursor")
        query = query.where(LedgerEntry.id < int(cursor))
    rows = list((await session.execute(query.order_by(LedgerEntry.id.desc()).limit(limit + 1))).scalars())
    page = rows[:limit]
    return {
        "customer_id": member.customer_id, "account_id": account.customer_id, "points_balance": account.balance,
        "debt": account.debt,
        "debt_note": (f"debt of {account.debt} points: reversed earnings that were already spent; future earnings settle it"
                      if account.debt else None),
        "items": [entry_view(e) for e in page],
        "next_cursor": str(page[-1].id) if len(rows) > limit else None,
    }


# --- redemptions -----------------------------------------------------------------------------------


class RedemptionCreate(Body):
    points: int | None = Field(default=None, gt=0, le=100_000_000, description="points-as-cash")
    reward_id: str | None = Field(default=None, min_length=1, max_length=100)
    booking_id: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_of(self) -> RedemptionCreate:
        if (self.points is None) == (self.reward_id is None):
            raise ValueError("send either points (points-as-cash) or reward_id")
        return self


def redemption_view(r: Any) -> dict[str, Any]:  # a Redemption, or a plain row of one
    return {
        "id": r.id, "customer_id": r.customer_id, "kind": r.kind, "status": r.status, "points": r.points,
        "reward_id": r.reward_id, "booking_id": r.booking_id,
        "cash_value": str(r.cash_value) if r.cash_value is not None else None, "currency": r.currency,
        "expires_at": iso(r.expires_at), "created_at": iso(r.created_at),
        "settled_at": iso(r.settled_at) if r.settled_at else None,
    }


@router.post("/members/{customer_id}/redemptions", status_code=201)
async def redeem(customer_id: CustomerPath, body: RedemptionCreate, request: Request, client: Scope("loyalty:redeem"),
                 runtime: RuntimeDep, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Reserve points (a hold) for a reward or as cash at checkout; capture or release it later."""
    key = idempotency.validate_key(idempotency_key)
    digest = idempotency.request_hash(request.method, request.url.path, body.model_dump(mode="json"))
    if body.points is not None:  # points-as-cash at checkout: the fast lane, the general path if it does not apply
        answer: dict[str, Any] = {}
        try:
            async with lane(runtime.engine) as tx:
                async def claim(hold: Any) -> None:  # the key is stored with its answer, before the member's lock
                    answer["view"] = redemption_view(hold)
                    await idempotency.claim(tx, client=client.name, key=key, digest=digest, status_code=201,
                                            body=answer["view"])

                await service.fast_cash_hold(tx, customer_id, utcnow(), points=body.points, booking_id=body.booking_id,
                                             claim=claim)
            return JSONResponse(answer["view"], status_code=201, headers={"Idempotency-Key": key})
        except idempotency.Replayed as replayed:
            return JSONResponse(replayed.replay.body, status_code=replayed.replay.status_code,
                                headers={"Idempotency-Key": key})
        except service.NotFast:
            pass

    async def action(session: AsyncSession) -> tuple[int, Any]:
        r = await service.create_hold(session, customer_id, utcnow(), points=body.points, reward_id=body.reward_id,
                                      booking_id=body.booking_id)
        return 201, redemption_view(r)

    return await idempotent(runtime, request, client, key, body.model_dump(mode="json"), action)


@router.get("/redemptions/{redemption_id}")
async def get_redemption(redemption_id: str, client: Scope("loyalty:read"), session: ReadSessionDep) -> dict[str, Any]:
    r = await session.get(Redemption, redemption_id)
    if r is None:
        raise NotFound("redemption", redemption_id)
    return redemption_view(r)


@router.post("/redemptions/{redemption_id}/capture")
async def capture(redemption_id: str, client: Scope("loyalty:redeem"), runtime: RuntimeDep) -> dict[str, Any]:
    async with lane(runtime.engine) as tx:
        return redemption_view(await service.capture(tx, redemption_id, utcnow()))


@router.post("/redemptions/{redemption_id}/release")
async def release(redemption_id: str, client: Scope("loyalty:redeem"), runtime: RuntimeDep) -> dict[str, Any]:
    async with lane(runtime.engine) as tx:
        return redemption_view(await service.release(tx, redemption_id, utcnow()))


# --- adjustments and tier override -----------------------------------------------------------------


class Adjustment(Body):
    points: int = Field(ge=-100_000_000, le=100_000_000, description="signed; never 0")
    reason: str = Field(min_length=3, max_length=500)

    @model_validator(mode="after")
    def _nonzero(self) -> Adjustment:
        if self.points == 0:
            raise ValueError("points must not be 0")
        return self


@router.post("/members/{customer_id}/adjustments", status_code=201)
async def adjustment(customer_id: CustomerPath, body: Adjustment, request: Request, client: Scope("loyalty:admin"),
                     runtime: RuntimeDep, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    async def action(session: AsyncSession) -> tuple[int, Any]:
        account, entry = await service.adjust(session, customer_id, body.points, body.reason, client.name, utcnow())
        return 201, {"entry": entry_view(entry), "points_balance": account.balance, "debt": account.debt}

    return await idempotent(runtime, request, client, idempotency_key, body.model_dump(mode="json"), action)


class TierOverride(Body):
    tier: TierName
    until: date
    reason: str = Field(min_length=3, max_length=300)


@router.post("/members/{customer_id}/tier-override")
async def tier_override(customer_id: CustomerPath, body: TierOverride, client: Scope("loyalty:admin"),
                        runtime: RuntimeDep) -> dict[str, Any]:
    async def action(session: AsyncSession) -> dict[str, Any]:
        member = await service.override_tier(session, customer_id, body.tier, body.until, body.reason, client.name,
                                             utcnow())
        return await member_view(session, member)

    return await unit(runtime, action)


# --- rewards ---------------------------------------------------------------------------------------


class RewardCreate(Body):
    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["coupon", "upgrade", "product"]
    points: int = Field(gt=0, le=100_000_000)
    stock: int | None = Field(default=None, ge=0)
    per_member_limit: int | None = Field(default=None, ge=1)
    description: str | None = Field(default=None, max_length=2000)


class RewardUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    points: int | None = Field(default=None, gt=0, le=100_000_000)
    stock: int | None = Field(default=None, ge=0)
    per_member_limit: int | None = Field(default=None, ge=1)
    active: bool | None = None


def reward_view(r: Reward) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "kind": r.kind, "points": r.points, "stock": r.stock,
            "per_member_limit": r.per_member_limit, "active": r.active, "description": r.description}


@router.get("/rewards")
async def list_rewards(client: Scope("loyalty:read"), session: ReadSessionDep) -> dict[str, Any]:
    version, prog = await L.programme(session)
    rows = (await session.execute(select(Reward).where(Reward.active.is_(True)).order_by(Reward.points))).scalars()
    return {"items": [reward_view(r) for r in rows],
            "points_as_cash": {"points_per_unit": prog.cash_points_per_unit, "currency": prog.currency}}


@router.post("/rewards", status_code=201)
async def create_reward(body: RewardCreate, client: Scope("loyalty:admin"), runtime: RuntimeDep) -> dict[str, Any]:
    async def action(session: AsyncSession) -> dict[str, Any]:
        if await session.get(Reward, body.id) is not None:
            raise Conflict(f"reward {body.id} exists", field="id")
        reward = Reward(**body.model_dump(), created_at=utcnow())
        session.add(reward)
        return reward_view(reward)

    return await unit(runtime, action)


@router.patch("/rewards/{reward_id}")
async def update_reward(reward_id: str, body: RewardUpdate, client: Scope("loyalty:admin"),
                        runtime: RuntimeDep) -> dict[str, Any]:
    async def action(session: AsyncSession) -> dict[str, Any]:
        reward = await session.get(Reward, reward_id, with_for_update=True)
        if reward is None:
            raise NotFound("reward", reward_id)
        for name, value in body.model_dump(exclude_unset=True).items():
            setattr(reward, name, value)
        return reward_view(reward)

    return await unit(runtime, action)


# --- campaigns -------------------------------------------------------------------------------------


class CampaignCreate(Body):
    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["multiplier", "bonus"]
    multiplier: Decimal | None = Field(default=None, gt=1, le=10, max_digits=6, decimal_places=2)
    bonus_points: int | None = Field(default=None, gt=0, le=1_000_000)
    tiers: list[TierName] = Field(default_factory=list)
    segments: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list)
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list)
    destinations: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list)
    starts_on: date | None = None
    ends_on: date | None = None
    budget: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> CampaignCreate:
        if self.kind == "multiplier" and self.multiplier is None:
            raise ValueError("a multiplier campaign needs multiplier")
        if self.kind == "bonus" and self.bonus_points is None:
            raise ValueError("a bonus campaign needs bonus_points")
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self


def campaign_view(c: Campaign) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "kind": c.kind, "multiplier": str(c.multiplier) if c.multiplier else None,
            "bonus_points": c.bonus_points, "tiers": json.loads(c.tiers), "segments": json.loads(c.segments),
            "tags": json.loads(c.tags), "destinations": json.loads(c.destinations),
            "starts_on": c.starts_on.isoformat() if c.starts_on else None,
            "ends_on": c.ends_on.isoformat() if c.ends_on else None, "budget": c.budget, "issued": c.issued,
            "status": c.status}


@router.get("/campaigns")
async def list_campaigns(client: Scope("loyalty:admin"), session: ReadSessionDep) -> dict[str, Any]:
    rows = (await session.execute(select(Campaign).order_by(Campaign.created_at.desc()))).scalars()
    return {"items": [campaign_view(c) for c in rows]}


@router.post("/campaigns", status_code=201)
async def create_campaign(body: CampaignCreate, client: Scope("loyalty:admin"), runtime: RuntimeDep) -> dict[str, Any]:
    async def action(session: AsyncSession) -> dict[str, Any]:
        if await session.get(Campaign, body.id) is not None:
            raise Conflict(f"campaign {body.id} exists", field="id")
        data = body.model_dump()
        for name in ("tiers", "segments", "tags", "destinations"):
            data[name] = json.dumps(data[name], ensure_ascii=False)
        campaign = Campaign(**data, created_at=utcnow())
        session.add(campaign)
        return campaign_view(campaign)

    return await unit(runtime, action)


@router.post("/campaigns/{campaign_id}/end")
async def end_campaign(campaign_id: str, client: Scope("loyalty:admin"), runtime: RuntimeDep) -> dict[str, Any]:
    async def action(session: AsyncSession) -> dict[str, Any]:
        campaign = await session.get(Campaign, campaign_id, with_for_update=True)
        if campaign is None:
            raise NotFound("campaign", campaign_id)
        campaign.status = "ended" if campaign.status == "active" else campaign.status
        return campaign_view(campaign)

    return await unit(runtime, action)


@router.get("/campaigns/{campaign_id}/report")
async def report(campaign_id: str, client: Scope("loyalty:admin"), session: ReadSessionDep) -> dict[str, Any]:
    return await service.campaign_report(session, campaign_id)


# --- referrals -------------------------------------------------------------------------------------


class ReferralCodeCreate(Body):
    customer_id: str = Field(min_length=1, max_length=100)


class RefereeCreate(Body):
    customer_id: str = Field(min_length=1, max_length=100)


def referral_view(r: Referral) -> dict[str, Any]:
    return {"id": r.id, "code": r.code, "referrer_id": r.referrer_id, "referee_id": r.referee_id, "status": r.status,
            "booking_id": r.booking_id, "awarded_at": iso(r.awarded_at) if r.awarded_at else None}


@router.post("/referrals", status_code=201)
async def create_referral_code(body: ReferralCodeCreate, client: Scope("loyalty:redeem"),
                               runtime: RuntimeDep) -> dict[str, Any]:
    code = await unit(runtime, lambda s: service.referral_code(s, body.customer_id, utcnow()))
    return {"code": code.code, "customer_id": code.customer_id}


@router.post("/referrals/{code}/referees", status_code=201)
async def add_referee(code: str, body: RefereeCreate, client: Scope("loyalty:redeem"),
                      runtime: RuntimeDep) -> dict[str, Any]:
    return referral_view(await unit(runtime, lambda s: service.refer(s, code, body.customer_id, utcnow())))


@router.get("/referrals")
async def list_referrals(client: Scope("loyalty:read"), session: ReadSessionDep,
                         customer_id: Annotated[str, Query(min_length=1, max_length=100)]) -> dict[str, Any]:
    code = (await session.execute(select(ReferralCode).where(ReferralCode.customer_id == customer_id))).scalar_one_or_none()
    rows = (await session.execute(select(Referral).where(Referral.referrer_id == customer_id)
                                  .order_by(Referral.created_at))).scalars()
    return {"customer_id": customer_id, "code": code.code if code else None, "items": [referral_view(r) for r in rows]}


# --- reports and privacy ---------------------------------------------------------------------------


@router.get("/reports/liability")
async def liability(client: Scope("loyalty:admin"), session: ReadSessionDep) -> dict[str, Any]:
    """Outstanding points (the programme's liability), held points, debt, and when the points expire."""
    now = utcnow()
    prog = (await L.programme(session))[1]
    members, balance, debt = (await session.execute(
        select(func.count(), func.coalesce(func.sum(Member.balance), 0), func.coalesce(func.sum(Member.debt), 0))
        .where(Member.status == "active")
    )).one()
    held = (await session.execute(select(func.coalesce(func.sum(Redemption.points), 0))
                                  .where(Redemption.status == "held", Redemption.expires_at > now))).scalar_one()
    by_month: dict[str, int] = {}
    for expires_on, points in (await session.execute(
        select(Lot.expires_on, func.sum(Lot.remaining)).where(Lot.remaining > 0).group_by(Lot.expires_on)
    )).all():
        month = expires_on.strftime("%Y-%m")
        by_month[month] = by_month.get(month, 0) + int(points)
    balance = int(balance)
    return {
        "members": int(members), "outstanding_points": balance, "held_points": int(held), "debt_points": int(debt),
        "cash_value": str(prog.cash_value(balance)),
        "currency": prog.currency, "expiring_by_month": dict(sorted(by_month.items())), "as_of": now.isoformat(),
    }


@router.get("/privacy/customers/{customer_id}")
async def privacy_export(customer_id: CustomerPath, client: Scope("privacy:admin"),
                         session: ReadSessionDep) -> dict[str, Any]:
    """All the loyalty service holds about a customer."""
    member = await L.get_member(session, customer_id)

    async def rows(model, *conditions):  # noqa: ANN001, ANN202
        return list((await session.execute(select(model).where(*conditions))).scalars())

    entries = await rows(LedgerEntry, (LedgerEntry.customer_id == customer_id) | (LedgerEntry.earned_by == customer_id))
    return {
        "service": "loyalty",
        "customer_id": customer_id,
        "member": None if member is None else {
            "member_type": member.member_type, "tier": member.tier, "points_balance": member.balance,
            "debt": member.debt, "status": member.status, "account_id": member.account_id,
            "merged_into": member.merged_into, "segments": L.segments_of(member),
            "enrolled_at": iso(member.enrolled_at),
        },
        "ledger": [entry_view(e) for e in sorted(entries, key=lambda e: e.id or 0)],
        "bookings": [{"booking_id": b.booking_id, "status": b.status, "amount": str(b.amount), "currency": b.currency,
                      "earned": b.earned} for b in await rows(
                          Booking, (Booking.customer_id == customer_id) | (Booking.traveller_id == customer_id))],
        "redemptions": [redemption_view(r) for r in await rows(Redemption, Redemption.customer_id == customer_id)],
        "referrals": [referral_view(r) for r in await rows(
            Referral, (Referral.referrer_id == customer_id) | (Referral.referee_id == customer_id))],
        "referral_code": [c.code for c in await rows(ReferralCode, ReferralCode.customer_id == customer_id)],
        "offers": [{"kind": o.kind, "points": o.points, "status": o.status, "expires_at": iso(o.expires_at)}
                   for o in await rows(Offer, Offer.customer_id == customer_id)],
        "campaign_awards": [{"campaign_id": a.campaign_id, "booking_id": a.booking_id, "points": a.points}
                            for a in await rows(CampaignAward, CampaignAward.customer_id == customer_id)],
    }
