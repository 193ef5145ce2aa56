"""Campaigns aimed at profile segments: loyalty's copy of segment memberships (segment-membership-changed), the
groups of a segment campaign (treated or control, recorded once per member when it becomes eligible), and the
campaign's uplift report: treated against control over the campaign window.

A member is eligible when it is in the campaign's segment while the campaign is open (at its creation, or on
joining later). Its group is `uplift.group_of` and is recorded then; leaving the segment, re-joining or asking
again never moves it (the report compares the groups as assigned: intent to treat). Treated members earn the
campaign's bonus (rules.py); control members do not.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import cohorts, repository
from services.loyalty.insights import CampaignMemberPublic, GroupReport, UpliftReport
from services.loyalty.models import Campaign, CampaignGroup, SegmentMember
from services.loyalty.programme import Programme
from services.loyalty.uplift import (
    CENT, CONFIDENCE, RATIO, GroupFigures, Member, figures, group_of, roi, welch_interval,
)
from shared.db import aware, insert
from shared.errors import NotFound
from shared.events import SegmentMembershipChanged
from shared.pages import Page, page_of

LIMITS = {"segment_id": 100, "customer_id": 100, "segment": 200}


class SegmentEventError(ValueError):
    """A segment-membership-changed loyalty cannot keep (a field longer than its column): dead-lettered."""


async def membership_changed(session: AsyncSession, data: SegmentMembershipChanged, now: datetime) -> int:
    """Keep the copy (a change older than the one kept changes nothing); on joining, enter the member into the
    open campaigns aimed at the segment. Returns the campaigns it entered."""
    for name, limit in LIMITS.items():
        if not getattr(data, name) or len(getattr(data, name)) > limit:
            raise SegmentEventError(f"{name} must be 1 to {limit} characters")
    changed_at = aware(data.changed_at)
    row = await cohorts.segment_row(session, data.segment_id, data.customer_id)
    if row is not None and aware(row.changed_at) > changed_at:
        return 0
    if row is None:
        row = SegmentMember(segment_id=data.segment_id, customer_id=data.customer_id, segment=data.segment,
                            member=False, changed_at=changed_at)
        session.add(row)
    row.segment, row.member, row.changed_at = data.segment, data.change == "joined", changed_at
    if not row.member:
        return 0
    entered = 0
    for campaign in await cohorts.open_campaigns_of(session, data.segment_id, repository.local_date(session, now)):
        entered += await assign(session, campaign, [data.customer_id], now)
    return entered


async def assign(session: AsyncSession, campaign: Campaign, customer_ids: list[str], now: datetime) -> int:
    """Record the group of each member not yet in the campaign (once: an existing row is kept as it is)."""
    if not customer_ids or campaign.segment_id is None:
        return 0
    pct = campaign.control_pct or Decimal(0)
    rows = [dict(campaign_id=campaign.id, customer_id=c, grp=group_of(campaign.id, c, pct), assigned_at=now)
            for c in customer_ids]
    table = CampaignGroup.__table__
    for start in range(0, len(rows), 500):
        await session.execute(insert(session, table).on_conflict_do_nothing(), rows[start:start + 500])
    return len(rows)


async def enter_segment(session: AsyncSession, campaign: Campaign, now: datetime) -> int:
    """A new segment campaign: every member of the segment now becomes eligible."""
    if campaign.segment_id is None:
        return 0
    await session.flush()
    return await assign(session, campaign, await cohorts.segment_members(session, campaign.segment_id), now)


async def members(session: AsyncSession, campaign_id: str, group: str | None, cursor: str | None,
                  limit: int) -> Page[CampaignMemberPublic]:
    """A segment campaign's members and their groups, by customer id."""
    if await session.get(Campaign, campaign_id) is None:
        raise NotFound("campaign", campaign_id)
    rows = await cohorts.groups(session, campaign_id, group, cursor, limit)
    return page_of(rows, limit, key=lambda r: (r.customer_id,), item=lambda r: CampaignMemberPublic(
        customer_id=r.customer_id, group=r.grp, assigned_at=r.assigned_at))


def window(session: AsyncSession, campaign: Campaign, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the campaign: its first day (or creation) to the end of its last day, its ending or now."""
    tz = repository.tz(session)
    start = (datetime.combine(campaign.starts_on, time(0), tzinfo=tz) if campaign.starts_on
             else aware(campaign.created_at))
    ends = [now]
    if campaign.ends_on is not None:
        ends.append(datetime.combine(campaign.ends_on + timedelta(days=1), time(0), tzinfo=tz))
    if campaign.ended_at is not None:
        ends.append(aware(campaign.ended_at))
    return start, max(start, min(ends))


async def report(session: AsyncSession, campaign: Campaign, prog: Programme, now: datetime) -> UpliftReport | None:
    """Treated against control over the campaign window; None for a campaign without a segment."""
    if campaign.segment_id is None:
        return None
    start, end = window(session, campaign, now)
    members = await _members(session, campaign, prog, start, end)
    treated, control = figures(members["treated"]), figures(members["control"])
    cost = prog.cash_value(points := await cohorts.awarded_points(session, campaign.id))
    uplift = incremental = None
    if treated.members and control.members:
        uplift = treated.per_member(treated.revenue) - control.per_member(control.revenue)
        margin_uplift = treated.per_member(treated.margin) - control.per_member(control.margin)
        incremental = (margin_uplift * treated.members).quantize(CENT)
    low, high = welch_interval([m.revenue for m in members["treated"]], [m.revenue for m in members["control"]]) or (
        None, None)
    return UpliftReport(
        segment_id=campaign.segment_id, control_pct=str(Decimal(campaign.control_pct or 0).quantize(CENT)),
        window_start=start, window_end=end, currency=prog.currency, treated=_group(treated), control=_group(control),
        uplift=_cents(uplift), uplift_low=_cents(low), uplift_high=_cents(high), confidence=CONFIDENCE,
        points_issued=points, cost=str(cost), incremental_margin=_cents(incremental),
        roi=_text(roi(incremental, cost) if incremental is not None else None),
    )


async def _members(session: AsyncSession, campaign: Campaign, prog: Programme, start: datetime,
                   end: datetime) -> dict[str, list[Member]]:
    """Each group's members with their bookings, revenue and margin in [start, end) (zeros when they did not book)."""
    found: dict[str, dict[str, Member]] = {"treated": {}, "control": {}}
    for customer_id, grp, spend, kind in await cohorts.group_bookings(session, campaign.id, start, end):
        member = found[grp].setdefault(customer_id, Member(0, Decimal(0), Decimal(0)))
        if spend is not None:
            member.bookings += 1
            member.revenue += Decimal(spend)
            member.margin += Decimal(spend) * prog.margin(kind) / 100
    return {grp: list(members.values()) for grp, members in found.items()}


def _group(g: GroupFigures) -> GroupReport:
    def ratio(value: Decimal | None) -> str | None:
        return None if value is None else str(value.quantize(RATIO))
    return GroupReport(members=g.members, participants=g.participants,
                       participation=ratio(g.per_member(g.participants)),
                       bookings=g.bookings, bookings_per_member=ratio(g.per_member(g.bookings)),
                       revenue=str(g.revenue.quantize(CENT)), revenue_per_member=_cents(g.per_member(g.revenue)),
                       margin_per_member=_cents(g.per_member(g.margin)))


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _cents(value: Decimal | float | None) -> str | None:
    return None if value is None else str(Decimal(str(value)).quantize(CENT))

