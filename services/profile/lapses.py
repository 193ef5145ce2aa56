"""Why customers leave (客户流失分析): a lapsed customer's switching cause, set by staff (directly or on a
return-visit call) or suggested from their complaints; and the report of lost customers and their lost yearly
revenue by cause, value segment and period. Use cases never commit."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import contact_repository as crepo, lapse_rules, repository as repo, segments
from services.profile.config import exchange_of, get_config
from services.profile.contact_models import LapseReason
from services.profile.contact_public import (
    LapseAnswer, LapsePublic, LapseReport, LapseSuggestion, LostGroup, lapse_public,
)
from services.profile.models import ComplaintView, CustomerValue, Segment
from shared.db import settings_of, utcnow
from shared.errors import Unprocessable


async def set_reason(session: AsyncSession, customer_id: str, cause: str, *, note: str | None, source: str,
                     set_by: str, now: datetime | None = None) -> LapseReason:
    """Set (or replace) the customer's lapse cause."""
    now = now or utcnow()
    row = await session.get(LapseReason, customer_id)
    if row is None:
        row = LapseReason(customer_id=customer_id, cause=cause, source=source, set_by=set_by, set_at=now)
        session.add(row)
    row.cause, row.note, row.source, row.set_by, row.set_at = cause, note, source, set_by, now
    return row


async def set_by_staff(session: AsyncSession, customer_id: str, cause: str, note: str | None, *,
                       set_by: str) -> LapsePublic:
    await repo.get_customer(session, customer_id)
    return lapse_public(await set_reason(session, customer_id, cause, note=note, source="staff", set_by=set_by))


async def answer(session: AsyncSession, customer_id: str) -> LapseAnswer:
    """The cause staff set, and the one the customer's complaints suggest."""
    await repo.get_customer(session, customer_id)
    reason = await session.get(LapseReason, customer_id)
    suggestion = lapse_rules.suggest(await repo.complaints_of(session, customer_id))
    return LapseAnswer(customer_id=customer_id, reason=lapse_public(reason) if reason else None,
                       suggested=LapseSuggestion(cause=suggestion[0], complaint_ids=suggestion[1],
                                                 basis=suggestion[2]) if suggestion else None)


@dataclass
class _Group:
    customers: int = 0
    suggested: int = 0
    revenue: Decimal = Decimal("0")
    unconverted: dict[str, Decimal] = field(default_factory=dict)

    def add(self, revenue: Decimal, unconverted: dict[str, Decimal], suggested: bool) -> None:
        self.customers += 1
        self.suggested += int(suggested)
        self.revenue += revenue
        for currency, amount in unconverted.items():
            self.unconverted[currency] = self.unconverted.get(currency, Decimal("0")) + amount

    def public(self, key: str) -> LostGroup:
        return LostGroup(key=key, customers=self.customers, suggested=self.suggested, lost_yearly_revenue=self.revenue,
                         unconverted=dict(sorted(self.unconverted.items())))


def _lapsed_at(value: CustomerValue, reason: LapseReason | None, inactive_since: datetime, lapse: timedelta
               ) -> datetime | None:
    """When the customer was lost: a year (`lapse`) after the last booking, or when staff gave a reason after it."""
    last = value.last_booking_at
    moments = [last + lapse] if last is not None and last < inactive_since else []
    if reason is not None and (last is None or reason.set_at > last):
        moments.append(reason.set_at)
    return min(moments) if moments else None


def _period(moment: date, period: str) -> str:
    if period == "year":
        return str(moment.year)
    if period == "quarter":
        return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"
    return f"{moment.year}-{moment.month:02d}"


async def _lost(session: AsyncSession, start_at: datetime, end_at: datetime, lapse: timedelta, now: datetime,
                segment_id: str | None) -> tuple[dict[str, datetime], dict[str, CustomerValue], dict[str, LapseReason]]:
    values = {v.customer_id: v for v in await crepo.lapse_candidates(session, now - lapse)}
    reasons = await crepo.lapse_reasons_of(session, values)
    lost = {}
    for cid, value in values.items():
        at = _lapsed_at(value, reasons.get(cid), now - lapse, lapse)
        if at is not None and start_at <= at < end_at:
            lost[cid] = at
    if segment_id is not None:
        segment = await repo.get_row(session, Segment, segment_id, "segment")
        members = set(await segments.members(session, segment, now.astimezone(settings_of(session).tz).date()))
        lost = {cid: at for cid, at in lost.items() if cid in members}
    return lost, values, reasons


async def report(session: AsyncSession, start: date, end: date, *, period: str = "month",
                 segment_id: str | None = None, now: datetime | None = None) -> LapseReport:
    """Lost customers in [start, end) (business dates) and their lost yearly revenue, by cause, segment, period."""
    if end <= start:
        raise Unprocessable("end must be after start", field="end")
    now, tz = now or utcnow(), settings_of(session).tz
    config = await get_config(session)
    exchange, lapse = exchange_of(session, config), timedelta(days=config.lapse_after_days)
    lost, values, reasons = await _lost(session, datetime.combine(start, time(), tz), datetime.combine(end, time(), tz),
                                        lapse, now, segment_id)
    trips = await repo.trips_of(session, lost)
    complaints = await repo.rows_of(session, ComplaintView, lost, ComplaintView.filed_at)
    total = _Group()
    groups: dict[str, dict[str, _Group]] = {"reason": defaultdict(_Group), "segment": defaultdict(_Group),
                                            "period": defaultdict(_Group)}
    for cid, at in sorted(lost.items()):
        revenue, unconverted = lapse_rules.yearly_value(trips.get(cid, []), exchange)
        reason = reasons.get(cid)
        suggestion = None if reason else lapse_rules.suggest(complaints.get(cid, []))
        cause = reason.cause if reason else suggestion[0] if suggestion else "unknown"
        for name, key in (("reason", cause), ("segment", values[cid].value_class or "none"),
                          ("period", _period(at.astimezone(tz).date(), period))):
            groups[name][key].add(revenue, unconverted, suggestion is not None)
        total.add(revenue, unconverted, suggestion is not None)
    ranked = {name: [g.public(k) for k, g in sorted(found.items(), key=lambda kv: (-kv[1].revenue, kv[0]))]
              for name, found in groups.items()}
    return LapseReport(start=start, end=end, currency=exchange.currency, lapse_after_days=config.lapse_after_days,
                       customers=total.customers, lost_yearly_revenue=total.revenue,
                       unconverted=dict(sorted(total.unconverted.items())), by_reason=ranked["reason"],
                       by_segment=ranked["segment"], by_period=sorted(ranked["period"], key=lambda g: g.key))
