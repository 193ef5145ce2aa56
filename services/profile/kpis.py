"""The handbooks' customer KPIs over a period [start, end) in the business time zone, for every customer or the
current members of one segment. Bookings are the completed (not cancelled) ones; money is in the business currency
at the configured rates, and amounts in a currency without a rate are reported per currency as `unconverted`.

- active customers: at least one booking in the period; the previous period is the one of equal length before it
- retention rate: of those active in the previous period, the share active again in this one; churn rate = 1 − it
- repeat-purchase rate: of those active in the period, the share with two or more bookings in it
- average customer value: the period's booking value / the active customers with a priced booking in it
- lifetime value (historical): each active customer's booking value from their first booking to the end of the
  period, averaged over the active customers with a priced booking (no projection; the per-customer projected
  value is `lifetime_value` in /v1/customers/{id}/value)
- new customers: active ones whose first booking ever is in the period; returning: the other active ones
- referral share: of the new customers, the share whose acquisition source is `referral`

Counted and summed in the database (GROUP BY per customer, then over the customers), so the cost is one pass over
the period's bookings whatever their number. The same figures for the trailing year are the gauges
`tourcrm_profile_kpi{kpi=...}`, refreshed by a job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from prometheus_client import Gauge
from sqlalchemy import and_, case, exists, func, literal, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import repository as repo, segment_sql
from services.profile.account_schemas import Kpis
from services.profile.acquisition import Tally, check_period, instant, priced_currencies, tallies
from services.profile.analytics import CENT, Exchange
from services.profile.config import exchange_of, get_config
from services.profile.models import Booking, Customer, Segment
from shared.db import settings_of, utcnow

GAUGE_DAYS = 365
GAUGED = ("retention_rate", "churn_rate", "repeat_purchase_rate", "average_customer_value", "lifetime_value",
          "referral_share", "new_customers", "returning_customers")


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    previous_start: datetime


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(tally: Tally, priced: int) -> Decimal | None:
    return (tally.total / priced).quantize(CENT) if priced else None


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def _counts(session: AsyncSession, window: Window, universe: list[Any], priced: list[str]) -> dict[str, int]:
    """Customer counts in one pass: per customer (GROUP BY) then over the customers, in the database."""
    b = Booking
    in_period = b.completed_at >= window.start
    per = (select(b.customer_id.label("cid"), _count(in_period).label("now"),
                  func.max(case((and_(b.completed_at >= window.previous_start, b.completed_at < window.start), 1),
                                else_=0)).label("before"),
                  func.min(b.completed_at).label("first"),
                  _count(and_(in_period, b.currency.in_(priced))).label("now_priced"),
                  _count(b.currency.in_(priced)).label("ever_priced"))
           .where(b.status == "completed", b.completed_at < window.end, *universe).group_by(b.customer_id).subquery())
    active = per.c.now > 0
    new = and_(active, per.c.first >= window.start)
    referred = exists().where(Customer.id == per.c.cid, Customer.acquisition_source == "referral")
    row = (await session.execute(select(
        _count(active), _count(per.c.before == 1), _count(and_(active, per.c.before == 1)), _count(per.c.now >= 2),
        _count(new), _count(and_(new, referred)), _count(per.c.now_priced > 0),
        _count(and_(active, per.c.ever_priced > 0))))).one()
    return dict(zip(("active", "previous", "retained", "repeat", "new", "referred", "priced_period", "priced_life"),
                    map(int, row)))


async def compute(session: AsyncSession, window: Window, universe: list[Any], exchange: Exchange) -> dict[str, Any]:
    """The KPIs of the completed bookings of the universe (`universe`: conditions on booking.customer_id)."""
    b = Booking
    n = await _counts(session, window, universe, priced_currencies(exchange))
    period = (await tallies(session, exchange, literal(1), b.completed_at >= window.start, b.completed_at < window.end,
                            *universe)).get(1, Tally())
    active_ids = select(b.customer_id).where(b.status == "completed", b.completed_at >= window.start,
                                             b.completed_at < window.end, *universe)
    lifetime = (await tallies(session, exchange, literal(1), b.completed_at < window.end,
                              b.customer_id.in_(active_ids))).get(1, Tally())
    return dict(
        active_customers=n["active"], previous_active_customers=n["previous"],
        retention_rate=_share(n["retained"], n["previous"]),
        churn_rate=_share(n["previous"] - n["retained"], n["previous"]),
        repeat_purchase_rate=_share(n["repeat"], n["active"]),
        average_customer_value=_mean(period, n["priced_period"]), lifetime_value=_mean(lifetime, n["priced_life"]),
        new_customers=n["new"], returning_customers=n["active"] - n["new"],
        referral_share=_share(n["referred"], n["new"]),
        unconverted=period.leftovers(), lifetime_unconverted=lifetime.leftovers())


async def kpis(session: AsyncSession, start: date, end: date, segment_id: str | None = None) -> Kpis:
    """The KPIs of [start, end), of the current members of `segment_id` when given."""
    check_period(start, end)
    tz = settings_of(session).tz
    previous_start = start - (end - start)
    window = Window(instant(start, tz), instant(end, tz), instant(previous_start, tz))
    universe: list[Any] = []
    if segment_id is not None:
        segment = await repo.get_row(session, Segment, segment_id, "segment")
        members = segment_sql.members_query(segment, await segment_sql.prepare(session), utcnow().astimezone(tz).date(), tz)
        universe.append(Booking.customer_id.in_(members))
    exchange = exchange_of(session, await get_config(session))
    figures = await compute(session, window, universe, exchange)
    return Kpis(start=start, end=end, previous_start=previous_start, segment_id=segment_id, currency=exchange.currency,
                **figures)


def _gauge(registry: Any) -> Gauge:
    found = getattr(registry, "_profile_kpi_gauge", None)
    if found is None:
        found = Gauge("tourcrm_profile_kpi", f"Customer KPIs of the last {GAUGE_DAYS} days (money in the business "
                      "currency); definitions in services/profile/kpis.py", ["kpi"], registry=registry)
        registry._profile_kpi_gauge = found  # noqa: SLF001 - one per service registry
    return found


async def refresh_gauges(session: AsyncSession, registry: Any, now: datetime) -> Kpis:
    """Set tourcrm_profile_kpi{kpi=...} to the trailing year's figures (NaN when a rate has no population)."""
    end = now.astimezone(settings_of(session).tz).date() + timedelta(days=1)
    figures = await kpis(session, end - timedelta(days=GAUGE_DAYS), end)
    gauge = _gauge(registry)
    for name in GAUGED:
        value = getattr(figures, name)
        gauge.labels(kpi=name).set(float("nan") if value is None else float(value))
    return figures
