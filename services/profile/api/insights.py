"""Routes of what profile derives: value, the 360 view, recommendations, the at-risk list, care tasks, segments,
and the configuration behind them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.profile import care, config, overview, reads, recommendations as recs, segments
from services.profile.public import (
    CareTaskPublic, Items, Overview, SegmentExport, SegmentMember, SegmentPublic, ValuePublic,
)
from services.profile.schemas import SegmentIn, ValueConfig
from shared.app import ReadSessionDep, RuntimeDep, UnitOfWork
from shared.auth import Scope
from shared.db import utcnow
from shared.pages import Cursor, Limit, Page

router = APIRouter(prefix="/v1", tags=["insights"])
CareStatus = Annotated[str | None, Query(pattern="^(scheduled|emitted|skipped|completed)$")]
Purpose = Annotated[str, Query(pattern="^(marketing|surveys|service)$")]


@router.get("/customers/{customer_id}/value", response_model=ValuePublic)
async def customer_value(customer_id: str, session: ReadSessionDep, client: Scope("profile:read")) -> ValuePublic:
    return await overview.value(session, customer_id)


@router.get("/customers/{customer_id}/overview", response_model=Overview)
async def customer_overview(customer_id: str, runtime: RuntimeDep, client: Scope("profile:read")) -> Overview:
    """The 360 view, from this service's own tables and the events it consumed (no calls to other services)."""
    return await reads.overview(runtime.engine, customer_id, runtime.settings.currency)


@router.get("/customers/{customer_id}/recommendations", response_model=recs.Recommendations)
async def customer_recommendations(customer_id: str, session: ReadSessionDep, client: Scope("profile:read", customers=True),
                                   limit: Annotated[int, Query(ge=1, le=50)] = 5) -> recs.Recommendations:
    return await recs.recommendations(session, customer_id, now=utcnow(), limit=limit)


@router.get("/customers/{customer_id}/care-tasks", response_model=Items[CareTaskPublic])
async def customer_care_tasks(customer_id: str, session: ReadSessionDep,
                              client: Scope("profile:read")) -> Items[CareTaskPublic]:
    return await care.care_tasks_of(session, customer_id)


@router.get("/at-risk", response_model=Page[ValuePublic])
async def at_risk(session: ReadSessionDep, client: Scope("profile:read"), cursor: Cursor = None,
                  limit: Limit = 50) -> Page[ValuePublic]:
    """Customers whose churn score crossed the threshold, highest risk first."""
    return await overview.at_risk_page(session, cursor, limit)


@router.get("/care-tasks", response_model=Page[CareTaskPublic])
async def list_care_tasks(session: ReadSessionDep, client: Scope("profile:read"), cursor: Cursor = None,
                          limit: Limit = 50, status: CareStatus = None) -> Page[CareTaskPublic]:
    return await care.care_tasks_page(session, cursor, limit, status)


@router.post("/segments", status_code=201, response_model=SegmentPublic)
async def create_segment(body: SegmentIn, session: UnitOfWork, client: Scope("profile:write")) -> SegmentPublic:
    return await segments.create_segment(session, body, created_by=client.name)


@router.get("/segments", response_model=Items[SegmentPublic])
async def list_segments(session: ReadSessionDep, client: Scope("profile:read")) -> Items[SegmentPublic]:
    return await segments.list_segments(session)


@router.get("/segments/{segment_id}", response_model=SegmentPublic)
async def get_segment(segment_id: str, session: ReadSessionDep, client: Scope("profile:read")) -> SegmentPublic:
    return await segments.get_segment(session, segment_id)


@router.get("/segments/{segment_id}/members", response_model=Page[SegmentMember])
async def segment_members(segment_id: str, session: ReadSessionDep, client: Scope("profile:read"),
                          cursor: Cursor = None, limit: Limit = 100) -> Page[SegmentMember]:
    """Live membership: the rules evaluated now."""
    return await segments.members_page(session, segment_id, cursor, limit)


@router.get("/segments/{segment_id}/export", response_model=SegmentExport)
async def export_segment(segment_id: str, session: ReadSessionDep, client: Scope("profile:read"),
                         purpose: Purpose = "marketing") -> SegmentExport:
    """Members for a campaign: only those who consented to `purpose`, with the consented channels' contacts."""
    return await segments.export_segment(session, segment_id, purpose)


@router.get("/config", response_model=ValueConfig)
async def get_config(session: ReadSessionDep, client: Scope("profile:read")) -> ValueConfig:
    return await config.get_config(session)


@router.put("/config", response_model=ValueConfig)
async def put_config(body: ValueConfig, session: UnitOfWork, client: Scope("profile:write")) -> ValueConfig:
    """Thresholds, quiet hours, exchange rates to the business currency; applied from the next recompute."""
    return await config.set_config(session, body)
