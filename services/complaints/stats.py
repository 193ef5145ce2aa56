"""Analytics: counts by category, severity, product, destination, supplier, channel and period;
time to first response and to resolution (mean, p90); SLA compliance; reopen rate; root causes; the
share of complainants who booked again after resolution; and the Prometheus gauges."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal

from prometheus_client import Gauge
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.complaints.models import BookingFact, Complaint
from services.complaints.workflow import OPEN_STATES
from shared.db import settings_of

if TYPE_CHECKING:
    from shared.app import Runtime


class Durations(BaseModel):
    count: int
    mean_hours: float | None
    p90_hours: float | None


class Stats(BaseModel):
    total: int
    open: int
    by_category: dict[str, int]
    by_severity: dict[str, int]
    by_product: dict[str, int]
    by_destination: dict[str, int]
    by_supplier: dict[str, int]
    by_channel: dict[str, int]
    by_period: dict[str, int]
    by_root_cause: dict[str, int]
    root_causes_by: dict[str, dict[str, dict[str, int]]]  # product / supplier / destination → cause → count
    time_to_first_response: Durations
    time_to_resolution: Durations
    sla_compliance_percent: float | None
    reopen_rate_percent: float | None
    recovered_percent: float | None


def p90(values: Sequence[float]) -> float | None:
    """The 90th percentile (nearest rank)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(0.9 * len(ordered)) - 1, 0)]


def durations(spans: Sequence[timedelta]) -> Durations:
    hours = [s.total_seconds() / 3600 for s in spans]
    return Durations(count=len(hours), mean_hours=round(sum(hours) / len(hours), 3) if hours else None,
                     p90_hours=round(p90(hours), 3) if hours else None)


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


async def compute(session: AsyncSession, *, since: date | None, until: date | None,
                  period: Literal["day", "week", "month"]) -> Stats:
    tz = settings_of(session).tz
    query = select(Complaint)
    if since:
        query = query.where(Complaint.filed_at >= datetime.combine(since, time(0), tz))
    if until:
        query = query.where(Complaint.filed_at < datetime.combine(until + timedelta(days=1), time(0), tz))
    rows = (await session.execute(query)).scalars().all()

    def count(attr: str) -> dict[str, int]:
        return dict(Counter(getattr(c, attr) or "unknown" for c in rows).most_common())

    def bucket(c: Complaint) -> str:
        day = c.filed_at.astimezone(tz).date()
        if period == "month":
            return day.strftime("%Y-%m")
        if period == "week":
            year, week, _ = day.isocalendar()
            return f"{year}-W{week:02d}"
        return day.isoformat()

    resolved = [c for c in rows if c.resolved_at is not None]
    ever_resolved = [c for c in rows if c.resolved_at is not None or c.reopen_count > 0]
    causes: dict[str, dict[str, Counter]] = {"product": {}, "supplier": {}, "destination": {}}
    for c in rows:
        if c.root_cause:
            for by, value in (("product", c.product_id), ("supplier", c.supplier), ("destination", c.destination)):
                causes[by].setdefault(value or "unknown", Counter())[c.root_cause] += 1
    return Stats(
        total=len(rows), open=sum(c.state in OPEN_STATES for c in rows),
        by_category=count("category"), by_severity=count("severity"), by_product=count("product_id"),
        by_destination=count("destination"), by_supplier=count("supplier"), by_channel=count("channel"),
        by_period=dict(sorted(Counter(bucket(c) for c in rows).items())),
        by_root_cause=dict(Counter(c.root_cause for c in rows if c.root_cause).most_common()),
        root_causes_by={by: {k: dict(c.most_common()) for k, c in found.items()} for by, found in causes.items()},
        time_to_first_response=durations([c.first_response_at - c.filed_at for c in rows if c.first_response_at]),
        time_to_resolution=durations([c.resolved_at - c.filed_at for c in resolved]),
        sla_compliance_percent=_percent(sum(bool(c.sla_met) for c in resolved), len(resolved)),
        reopen_rate_percent=_percent(sum(c.reopen_count > 0 for c in ever_resolved), len(ever_resolved)),
        recovered_percent=await _recovered(session, resolved),
    )


async def _recovered(session: AsyncSession, resolved: Sequence[Complaint]) -> float | None:
    """Share of complainants (with a resolved complaint) who booked again after its resolution."""
    first_resolution: dict[str, datetime] = {}
    for c in resolved:
        if c.resolved_at and (c.customer_id not in first_resolution or c.resolved_at < first_resolution[c.customer_id]):
            first_resolution[c.customer_id] = c.resolved_at
    if not first_resolution:
        return None
    latest = dict((await session.execute(select(BookingFact.customer_id, func.max(BookingFact.completed_at))
                                         .where(BookingFact.customer_id.in_(list(first_resolution)))
                                         .group_by(BookingFact.customer_id))).all())
    back = sum(1 for cid, at in first_resolution.items() if latest.get(cid) is not None and latest[cid] > at)
    return _percent(back, len(first_resolution))


COMPLIANCE_DAYS = 30


class Gauges:
    """Open complaints by severity, SLA breaches and recent SLA compliance, refreshed by the SLA job."""

    def __init__(self, runtime: Runtime) -> None:
        registry = runtime.metrics.registry
        self.open = Gauge("tourcrm_complaints_open", "Open complaints by severity", ["severity"], registry=registry,
                          multiprocess_mode="mostrecent")
        self.breached = Gauge("tourcrm_complaints_sla_breached", "Open complaints past an SLA target, by clock",
                              ["clock"], registry=registry, multiprocess_mode="mostrecent")
        self.compliance = Gauge("tourcrm_complaints_sla_compliance_ratio",
                                f"Share of the complaints resolved in the last {COMPLIANCE_DAYS} days that met their SLA",
                                registry=registry, multiprocess_mode="mostrecent")

    async def refresh(self, session: AsyncSession, now: datetime) -> None:
        rows = (await session.execute(select(Complaint.severity, Complaint.alarms)
                                      .where(Complaint.state.in_(OPEN_STATES)))).all()
        by_severity = Counter(severity for severity, _ in rows)
        for severity in ("low", "medium", "high", "critical"):
            self.open.labels(severity).set(by_severity.get(severity, 0))
        for clock in ("first_response", "resolution"):
            self.breached.labels(clock).set(sum(f"{clock}:breach" in json.loads(alarms) for _, alarms in rows))
        met = (await session.execute(select(Complaint.sla_met).where(
            Complaint.resolved_at >= now - timedelta(days=COMPLIANCE_DAYS)))).scalars().all()
        self.compliance.set(sum(bool(m) for m in met) / len(met) if met else float("nan"))


_GAUGES: dict[int, Gauges] = {}


def gauges(runtime: Runtime) -> Gauges:
    """The gauges of this runtime's registry (made once)."""
    found = _GAUGES.get(id(runtime.metrics.registry))
    if found is None:
        found = _GAUGES[id(runtime.metrics.registry)] = Gauges(runtime)
    return found
