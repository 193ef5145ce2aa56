"""Campaigns: multipliers or bonuses for a target (tiers, segments, tags, destinations, dates), within a budget.
Their awards are planned with each booking's earnings (rules.py); here they are created, ended and reported."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import repository, segments
from services.loyalty.models import Campaign, CampaignAward
from services.loyalty.rules import CENT
from shared.errors import Conflict, NotFound, Unprocessable

TARGETS = ("tiers", "segments", "tags", "destinations")  # stored as JSON lists


async def create(session: AsyncSession, fields: dict[str, Any], now: datetime) -> Campaign:
    if await session.get(Campaign, fields["id"]) is not None:
        raise Conflict(f"campaign {fields['id']} exists", field="id")
    if fields.get("control_pct") is not None and fields.get("segment_id") is None:
        raise Unprocessable("a control group is held out of a segment: control_pct needs segment_id", field="control_pct")
    fields = {**fields, **{name: json.dumps(fields[name], ensure_ascii=False) for name in TARGETS}}
    campaign = Campaign(**fields, created_at=now)
    session.add(campaign)
    await segments.enter_segment(session, campaign, now)
    return campaign


async def end(session: AsyncSession, campaign_id: str, now: datetime) -> Campaign:
    campaign = await _get(session, campaign_id, lock=True)
    if campaign.status == "active":
        campaign.status, campaign.ended_at = "ended", now
    return campaign


async def _get(session: AsyncSession, campaign_id: str, *, lock: bool = False) -> Campaign:
    campaign = await session.get(Campaign, campaign_id, with_for_update=lock)
    if campaign is None:
        raise NotFound("campaign", campaign_id)
    return campaign


async def report(session: AsyncSession, campaign_id: str, now: datetime) -> dict[str, Any]:
    """Participants, points issued and reversed, budget, revenue, cost and ROI of a campaign; for a segment
    campaign, its treated group against its control group (segments.report)."""
    campaign = await _get(session, campaign_id)
    _, prog = await repository.programme(session)
    participants, gross, revenue = (await session.execute(
        select(func.count(func.distinct(CampaignAward.customer_id)), func.coalesce(func.sum(CampaignAward.points), 0),
               func.coalesce(func.sum(CampaignAward.revenue), 0))
        .where(CampaignAward.campaign_id == campaign_id, CampaignAward.reversed.is_(False))
    )).one()
    reversed_points = (await session.execute(
        select(func.coalesce(func.sum(CampaignAward.points), 0))
        .where(CampaignAward.campaign_id == campaign_id, CampaignAward.reversed.is_(True))
    )).scalar_one()
    cost = prog.cash_value(int(gross))
    revenue = Decimal(revenue).quantize(CENT)
    roi = str(((revenue - cost) / cost).quantize(CENT)) if cost > 0 else None
    return {
        "campaign_id": campaign_id, "status": campaign.status, "participants": int(participants),
        "points_issued": int(gross), "points_reversed": int(reversed_points), "budget": campaign.budget,
        "budget_used": campaign.issued, "revenue": str(revenue), "currency": prog.currency, "cost": str(cost), "roi": roi,
        "uplift": await segments.report(session, campaign, prog, now),
    }
