"""The programme, rewards, campaigns and reports (admin), and the rewards catalog (read)."""

from __future__ import annotations

from fastapi import APIRouter

from services.loyalty import campaigns, catalog, reports, repository
from services.loyalty.schemas import (
    CampaignCreate, CampaignPublic, CampaignReport, Liability, PointsAsCash, ProgrammeChange, ProgrammePublic,
    ProgrammeVersionPublic, RewardCreate, RewardPublic, Rewards, RewardUpdate, campaign_public,
)
from shared.app import ReadSessionDep, UnitOfWork
from shared.auth import Scope
from shared.db import utcnow
from shared.pages import Page

router = APIRouter(prefix="/v1", tags=["loyalty"])


@router.get("/programme", response_model=ProgrammePublic)
async def get_programme(client: Scope("loyalty:read", customers=True), session: ReadSessionDep) -> ProgrammePublic:
    version, prog = await repository.programme(session)
    return ProgrammePublic(version=version, programme=prog)


@router.put("/programme", response_model=ProgrammePublic)
async def put_programme(body: ProgrammeChange, client: Scope("loyalty:admin"), session: UnitOfWork) -> ProgrammePublic:
    version = await catalog.set_programme(session, body.programme, client.name, body.reason, utcnow())
    return ProgrammePublic(version=version, programme=body.programme)


@router.get("/programme/versions", response_model=Page[ProgrammeVersionPublic])
async def programme_versions(client: Scope("loyalty:admin"), session: ReadSessionDep) -> Page[ProgrammeVersionPublic]:
    """Every version, newest first, with who changed it and why."""
    return Page(items=[ProgrammeVersionPublic.model_validate(r) for r in await repository.versions(session)])


@router.get("/rewards", response_model=Rewards)
async def list_rewards(client: Scope("loyalty:read", customers=True), session: ReadSessionDep) -> Rewards:
    _, prog = await repository.programme(session)
    return Rewards(items=[RewardPublic.model_validate(r) for r in await repository.active_rewards(session)],
                   points_as_cash=PointsAsCash(points_per_unit=prog.cash_points_per_unit, currency=prog.currency))


@router.post("/rewards", status_code=201, response_model=RewardPublic)
async def create_reward(body: RewardCreate, client: Scope("loyalty:admin"), session: UnitOfWork) -> RewardPublic:
    return RewardPublic.model_validate(await catalog.create_reward(session, body.model_dump(), utcnow()))


@router.patch("/rewards/{reward_id}", response_model=RewardPublic)
async def update_reward(reward_id: str, body: RewardUpdate, client: Scope("loyalty:admin"),
                        session: UnitOfWork) -> RewardPublic:
    reward = await catalog.update_reward(session, reward_id, body.model_dump(exclude_unset=True))
    return RewardPublic.model_validate(reward)


@router.get("/campaigns", response_model=Page[CampaignPublic])
async def list_campaigns(client: Scope("loyalty:admin"), session: ReadSessionDep) -> Page[CampaignPublic]:
    return Page(items=[campaign_public(c) for c in await repository.campaigns(session)])


@router.post("/campaigns", status_code=201, response_model=CampaignPublic)
async def create_campaign(body: CampaignCreate, client: Scope("loyalty:admin"), session: UnitOfWork) -> CampaignPublic:
    return campaign_public(await campaigns.create(session, body.model_dump(), utcnow()))


@router.post("/campaigns/{campaign_id}/end", response_model=CampaignPublic)
async def end_campaign(campaign_id: str, client: Scope("loyalty:admin"), session: UnitOfWork) -> CampaignPublic:
    return campaign_public(await campaigns.end(session, campaign_id, utcnow()))


@router.get("/campaigns/{campaign_id}/report", response_model=CampaignReport)
async def report(campaign_id: str, client: Scope("loyalty:admin"), session: ReadSessionDep) -> CampaignReport:
    return CampaignReport(**await campaigns.report(session, campaign_id, utcnow()))


@router.get("/reports/liability", response_model=Liability)
async def liability(client: Scope("loyalty:admin"), session: ReadSessionDep) -> Liability:
    """Outstanding points (the programme's liability), held points, debt, and when the points expire."""
    return await reports.liability(session, utcnow())
