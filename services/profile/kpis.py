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

The same figures for the trailing year are the gauges `tourcrm_profile_kpi{kpi=...}`, refreshed by a job."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from prometheus_client import Gauge
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import repository as repo, segments
from services.profile.account_schemas import Kpis
from services.profile.acquisition import Tally, check_period, completed_bookings, instant
from services.profile.analytics import CENT, Exchange
from services.profile.config import exchange_of, get_config
from services.profile.models import Customer, Segment
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


def compute(bookings: list[tuple[str, datetime, Decimal, str]], referred: set[str], window: Window,
            exchange: Exchange) -> dict[str, Any]:
    """The KPIs from (customer, completed at, amount, currency) of the universe's bookings before `window.end`."""
    current: dict[str, list[tuple[Decimal, str]]] = defaultdict(list)
    previous: set[str] = set()
    first: dict[str, datetime] = {}
    history: dict[str, list[tuple[Decimal, str]]] = defaultdict(list)
    for cid, at, amount, currency in bookings:
        first[cid] = min(first.get(cid, at), at)
        history[cid].append((amount, currency))
        if at >= window.start:
            current[cid].append((amount, currency))
        elif at >= window.previous_start:
            previous.add(cid)
    period, lifetime = Tally(), Tally()
    priced_period, priced_life = 0, 0
    for cid, trips in current.items():
        added = [period.add(a, c, exchange) for a, c in trips]  # every amount is added, then: was any priced?
        priced_period += any(added)
        added = [lifetime.add(a, c, exchange) for a, c in history[cid]]
        priced_life += any(added)
    new = {cid for cid in current if first[cid] >= window.start}
    retained = len(previous & set(current))
    return dict(
        active_customers=len(current), previous_active_customers=len(previous),
        retention_rate=_share(retained, len(previous)),
        churn_rate=_share(len(previous) - retained, len(previous)),
        repeat_purchase_rate=_share(sum(1 for t in current.values() if len(t) >= 2), len(current)),
        average_customer_value=_mean(period, priced_period), lifetime_value=_mean(lifetime, priced_life),
        new_customers=len(new), returning_customers=len(current) - len(new),
        referral_share=_share(len(new & referred), len(new)),
        unconverted=period.leftovers(), lifetime_unconverted=lifetime.leftovers())


async def kpis(session: AsyncSession, start: date, end: date, segment_id: str | None = None) -> Kpis:
    """The KPIs of [start, end), of the current members of `segment_id` when given."""
    check_period(start, end)
    tz = settings_of(session).tz
    previous_start = start - (end - start)
    window = Window(instant(start, tz), instant(end, tz), instant(previous_start, tz))
    universe: set[str] | None = None
    if segment_id is not None:
        segment = await repo.get_row(session, Segment, segment_id, "segment")
        universe = set(await segments.members(session, segment, utcnow().astimezone(tz).date()))
    rows = [b for b in await completed_bookings(session, before=window.end) if universe is None or b[0] in universe]
    referred = {cid for (cid,) in await repo.select_rows(session, Customer.id, where=(
        Customer.acquisition_source == "referral",))}
    exchange = exchange_of(session, await get_config(session))
    figures = compute([(c, at, Decimal(a), cur) for c, at, a, cur in rows], referred, window, exchange)
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
