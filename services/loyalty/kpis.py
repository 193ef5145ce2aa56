"""The programme's KPIs: points liability and its cash value, points issued / redeemed / reversed / expired and the
redemption rate of a period, the uplift of the segment campaigns that ended in it; and the Prometheus gauges
`tourcrm_loyalty_kpi{kpi=...}`, refreshed by a periodic job over the last ROLLING_DAYS days."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from prometheus_client import Gauge
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import cohorts, points_counter, repository, segments
from services.loyalty.insights import CampaignUplift, Kpis
from services.loyalty.uplift import CENT, share
from shared.app import every

if TYPE_CHECKING:
    from shared.app import Runtime

ROLLING_DAYS = 90
INTERVAL_SECONDS = 60.0
GAUGE_KPIS = ("points_liability", "points_liability_value", "redemption_rate", "campaign_uplift")


async def kpis(session: AsyncSession, start: date | None, end: date | None, now: datetime) -> Kpis:
    """The KPIs of [start, end] (business days, inclusive; the last 30 days by default)."""
    start, end = cohorts.period(start, end, repository.local_date(session, now))
    _, prog = await repository.programme(session)
    lo, hi = cohorts.day_range(session, start, end)
    moved = await cohorts.points_moved(session, lo, hi)
    outstanding = await cohorts.outstanding_at(session, hi)
    ended = await ended_campaigns(session, start, end, now)
    uplifts = [Decimal(c.uplift) for c in ended if c.uplift is not None]
    return Kpis(
        start=start, end=end, currency=prog.currency, points_liability=outstanding,
        points_liability_value=str(prog.cash_value(outstanding)),
        points_issued=moved["earned"], points_redeemed=moved["redeemed"], points_reversed=moved["reversed"],
        points_expired=moved["expired"],
        redemption_rate=share(moved["redeemed"], moved["earned"]),
        campaigns=ended,
        campaign_uplift=str((sum(uplifts, Decimal(0)) / len(uplifts)).quantize(CENT)) if uplifts else None,
    )


async def ended_campaigns(session: AsyncSession, start: date, end: date, now: datetime) -> list[CampaignUplift]:
    """Campaigns with a control group whose window ended (by its last day or by ending it) within [start, end]."""
    _, prog = await repository.programme(session)
    found = []
    for campaign in await cohorts.controlled_campaigns(session):
        _, closes = segments.window(session, campaign, now)
        if closes >= now:
            continue  # still running
        ended_on = repository.local_date(session, closes - timedelta(microseconds=1))
        if not start <= ended_on <= end:
            continue
        report = await segments.report(session, campaign, prog, now)
        if report is None:  # not a segment campaign (controlled_campaigns has none)
            continue
        found.append(CampaignUplift(
            campaign_id=campaign.id, ended_on=ended_on, currency=report.currency,
            treated_members=report.treated.members, control_members=report.control.members, uplift=report.uplift,
            uplift_low=report.uplift_low, uplift_high=report.uplift_high, roi=report.roi))
    return found


# --- Prometheus ----------------------------------------------------------------------------------

_GAUGES: dict[int, Gauge] = {}


def gauge(runtime: Runtime) -> Gauge:
    """`tourcrm_loyalty_kpi{kpi}` of this runtime's registry (made once)."""
    registry = runtime.metrics.registry
    found = _GAUGES.get(id(registry))
    if found is None:
        found = _GAUGES[id(registry)] = Gauge(
            "tourcrm_loyalty_kpi", f"Loyalty KPIs: liability now; rates and uplift over the last {ROLLING_DAYS} days",
            ["kpi"], registry=registry, multiprocess_mode="mostrecent")
    return found


async def refresh(runtime: Runtime, now: datetime) -> dict[str, float]:
    """Set the gauges from the KPIs of the last ROLLING_DAYS days (NaN for a rate or uplift with nothing to show)."""
    async with runtime.read_sessions() as session:
        today = repository.local_date(session, now)
        figures = await kpis(session, today - timedelta(days=ROLLING_DAYS - 1), today, now)
    values = {
        "points_liability": float(figures.points_liability),
        "points_liability_value": float(figures.points_liability_value),
        "redemption_rate": float(figures.redemption_rate) if figures.redemption_rate is not None else math.nan,
        "campaign_uplift": float(figures.campaign_uplift) if figures.campaign_uplift is not None else math.nan,
    }
    found = gauge(runtime)
    for name in GAUGE_KPIS:
        found.labels(name).set(values[name])
    return {}


_refresh_every_minute = every(INTERVAL_SECONDS, refresh, name="loyalty-kpis")


async def kpi_job(runtime: Runtime) -> None:
    """Count the ledger's movements from the start (points_counter), then refresh the gauges every minute."""
    points_counter.register(runtime)
    gauge(runtime)
    await _refresh_every_minute(runtime)
