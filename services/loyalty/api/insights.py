"""Measures for staff: a segment campaign's groups, the win-back rate and the programme's KPIs."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from services.loyalty import kpis, offers, segments
from services.loyalty.insights import CampaignMemberPublic, Kpis, WinBackRate
from services.loyalty.schemas import Id
from shared.app import ReadSessionDep
from shared.auth import Scope
from shared.db import utcnow
from shared.fields import Day
from shared.pages import Cursor, Limit, Page

router = APIRouter(prefix="/v1", tags=["loyalty"])
Start = Annotated[Day | None, Query(description="first business day of the period (default: 30 days before end)")]
End = Annotated[Day | None, Query(description="last business day of the period, inclusive (default: today)")]


@router.get("/campaigns/{campaign_id}/members", response_model=Page[CampaignMemberPublic])
async def campaign_members(campaign_id: Id, client: Scope("loyalty:admin"), session: ReadSessionDep,
                           group: Literal["treated", "control"] | None = None, cursor: Cursor = None,
                           limit: Limit = 50) -> Page[CampaignMemberPublic]:
    """A segment campaign's members and the group each was put in when it became eligible (never moved)."""
    return await segments.members(session, campaign_id, group, cursor, limit)


@router.get("/reports/win-back", response_model=WinBackRate)
async def winback(client: Scope("loyalty:admin"), session: ReadSessionDep, start: Start = None,
                  end: End = None) -> WinBackRate:
    """Win-back offers made in the period, how many a next booking redeemed, and the rate."""
    return await offers.winback_rate(session, start, end, utcnow())


@router.get("/kpis", response_model=Kpis)
async def get_kpis(client: Scope("loyalty:admin"), session: ReadSessionDep, start: Start = None,
                   end: End = None) -> Kpis:
    """Points liability (at the end of the period) and its cash value; points issued, redeemed, reversed and
    expired, the redemption rate, and the uplift of the campaigns with a control group ended in the period."""
    return await kpis.kpis(session, start, end, utcnow())
