"""Queries (never writes) of the segment copy, the campaign groups and the figures of a period: what a segment
campaign's report, the win-back rate and the KPIs read. The other queries are in repository.py."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty.models import Booking, Campaign, CampaignAward, CampaignGroup, LedgerEntry, Offer, SegmentMember
from shared.db import settings_of
from shared.errors import Unprocessable
from shared.pages import decode_cursor


EARLIEST, LATEST = date(1970, 1, 1), date(2999, 12, 31)


def period(start: date | None, end: date | None, today: date, *, days: int = 30) -> tuple[date, date]:
    """A report's period: [start, end] as asked, by default the `days` days to today; refused when the wrong way
    round or outside 1970–2999 (a 422 naming the field)."""
    for name, day in (("end", end), ("start", start)):
        if day is not None and not EARLIEST <= day <= LATEST:
            raise Unprocessable(f"{name} must be between {EARLIEST} and {LATEST}", field=name)
    end = end or today
    start = start or end - timedelta(days=days - 1)
    if start > end:
        raise Unprocessable("start is after end", field="start")
    return start, end


def day_range(session: AsyncSession, start: date, end: date) -> tuple[datetime, datetime]:
    """[start, end] in business days (settings.tz, inclusive) as [from, to) moments."""
    tz = settings_of(session).tz
    return datetime.combine(start, time(0), tzinfo=tz), datetime.combine(end + timedelta(days=1), time(0), tzinfo=tz)


async def segment_row(session: AsyncSession, segment_id: str, customer_id: str) -> SegmentMember | None:
    return await session.get(SegmentMember, (segment_id, customer_id), with_for_update=True)


async def segment_members(session: AsyncSession, segment_id: str) -> list[str]:
    """The customers in a segment now, by id."""
    return list((await session.execute(
        select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment_id, SegmentMember.member.is_(True))
        .order_by(SegmentMember.customer_id))).scalars())


async def open_campaigns_of(session: AsyncSession, segment_id: str, today: date) -> list[Campaign]:
    """Active campaigns aimed at a segment that have not ended by `today`: a member joining now becomes eligible."""
    return list((await session.execute(
        select(Campaign).where(Campaign.segment_id == segment_id, Campaign.status == "active",
                               or_(Campaign.ends_on.is_(None), Campaign.ends_on >= today))
        .order_by(Campaign.id))).scalars())


async def groups(session: AsyncSession, campaign_id: str, group: str | None, cursor: str | None,
                 limit: int) -> list[CampaignGroup]:
    """A page of a campaign's members and their groups, by customer id (`limit + 1` rows)."""
    query = select(CampaignGroup).where(CampaignGroup.campaign_id == campaign_id)
    if group is not None:
        query = query.where(CampaignGroup.grp == group)
    if cursor:
        (after,) = decode_cursor(cursor, str)
        query = query.where(CampaignGroup.customer_id > after)
    return list((await session.execute(query.order_by(CampaignGroup.customer_id).limit(limit + 1))).scalars())


async def group_bookings(session: AsyncSession, campaign_id: str, start: datetime, end: datetime) -> list[Any]:
    """(customer id, group, spend, product kind) per completed booking of each group member in [start, end);
    a member without one comes once with spend None."""
    joined = and_(Booking.traveller_id == CampaignGroup.customer_id, Booking.status == "completed",
                  Booking.completed_at >= start, Booking.completed_at < end)
    return list((await session.execute(
        select(CampaignGroup.customer_id, CampaignGroup.grp, Booking.spend, Booking.product_kind)
        .select_from(CampaignGroup).outerjoin(Booking, joined)
        .where(CampaignGroup.campaign_id == campaign_id))).all())


async def awarded_points(session: AsyncSession, campaign_id: str) -> int:
    """The bonus points a campaign issued and still stand (reversed awards excluded)."""
    return int((await session.execute(
        select(func.coalesce(func.sum(CampaignAward.points), 0))
        .where(CampaignAward.campaign_id == campaign_id, CampaignAward.reversed.is_(False)))).scalar_one())


async def controlled_campaigns(session: AsyncSession) -> list[Campaign]:
    """Campaigns with a control group (a segment campaign whose control % is above 0)."""
    return list((await session.execute(
        select(Campaign).where(Campaign.segment_id.is_not(None), Campaign.control_pct > 0).order_by(Campaign.id)
    )).scalars())


# --- the figures of a period ---------------------------------------------------------------------

MOVEMENT = case((LedgerEntry.points > 0, "earned"), (LedgerEntry.kind == "redeem", "redeemed"),
                (LedgerEntry.kind == "expire", "expired"), else_="reversed")


async def points_moved(session: AsyncSession, start: datetime, end: datetime) -> dict[str, int]:
    """Points earned, redeemed, reversed and expired in [start, end) (positive numbers), from the ledger."""
    moved = dict.fromkeys(("earned", "redeemed", "reversed", "expired"), 0)
    for movement, points in (await session.execute(
        select(MOVEMENT, func.sum(func.abs(LedgerEntry.points)))
        .where(LedgerEntry.created_at >= start, LedgerEntry.created_at < end, LedgerEntry.points != 0)
        .group_by(MOVEMENT))).all():
        moved[movement] = int(points)
    return moved


async def outstanding_at(session: AsyncSession, end: datetime) -> int:
    """The points outstanding at `end`: every entry before it (the balances are the sums of the entries)."""
    return int((await session.execute(
        select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(LedgerEntry.created_at < end))).scalar_one())


async def offers_between(session: AsyncSession, start: datetime, end: datetime) -> tuple[int, int]:
    """Win-back offers made in [start, end), and how many of them a next booking redeemed."""
    made, redeemed = (await session.execute(
        select(func.count(), func.coalesce(func.sum(case((Offer.status == "used", 1), else_=0)), 0))
        .where(Offer.kind == "win-back", Offer.created_at >= start, Offer.created_at < end))).one()
    return int(made), int(redeemed)
