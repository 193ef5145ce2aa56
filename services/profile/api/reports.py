"""Routes of the key-account era's reports: acquisition by source, the customer KPIs, and segment evaluation
(membership stored, changes sent as segment-membership-changed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.profile import acquisition, kpis as kpi, segment_membership
from services.profile.account_schemas import AcquisitionReport, Kpis
from services.profile.segment_membership import Evaluated
from shared.app import ReadSessionDep, UnitOfWork
from shared.auth import Scope
from shared.fields import Day

router = APIRouter(prefix="/v1", tags=["reports"])
From = Annotated[Day, Query(alias="from", description="first day of the period (business time zone)")]
To = Annotated[Day, Query(alias="to", description="the day after the period (exclusive)")]


@router.get("/reports/acquisition", response_model=AcquisitionReport)
async def acquisition_report(session: ReadSessionDep, client: Scope("profile:read"), start: From,
                             end: To) -> AcquisitionReport:
    """Customers created in the period by source: count, first-booking conversion, booking value (business currency;
    amounts without a rate in `unconverted`, per currency)."""
    return await acquisition.report(session, start, end)


@router.get("/kpis", response_model=Kpis)
async def customer_kpis(session: ReadSessionDep, client: Scope("profile:read"), start: From, end: To,
                        segment: Annotated[str | None, Query(max_length=100)] = None) -> Kpis:
    """Retention, churn, repeat purchase, average and lifetime value, new vs returning, referral share."""
    return await kpi.kpis(session, start, end, segment)


@router.post("/segments/{segment_id}/evaluate", response_model=Evaluated, tags=["insights"])
async def evaluate_segment(segment_id: str, session: UnitOfWork, client: Scope("profile:write")) -> Evaluated:
    """Store the members now; segment-membership-changed goes out for each customer who joined or left."""
    return await segment_membership.evaluate_one(session, segment_id)
