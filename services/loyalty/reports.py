"""Reports: the programme's liability (outstanding points, holds, debt, when points expire)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import repository
from services.loyalty.models import Lot, Member, Redemption
from services.loyalty.schemas import Liability


async def liability(session: AsyncSession, now: datetime) -> Liability:
    """Outstanding points (the programme's liability), held points, debt, and when the points expire."""
    _, prog = await repository.programme(session)
    members, balance, debt = (await session.execute(
        select(func.count(), func.coalesce(func.sum(Member.balance), 0), func.coalesce(func.sum(Member.debt), 0))
        .where(Member.status == "active")
    )).one()
    held = (await session.execute(select(func.coalesce(func.sum(Redemption.points), 0))
                                  .where(Redemption.status == "held", Redemption.expires_at > now))).scalar_one()
    by_month: dict[str, int] = {}
    for expires_on, points in (await session.execute(
        select(Lot.expires_on, func.sum(Lot.remaining)).where(Lot.remaining > 0).group_by(Lot.expires_on)
    )).all():
        month = expires_on.strftime("%Y-%m")
        by_month[month] = by_month.get(month, 0) + int(points)
    return Liability(
        members=int(members), outstanding_points=int(balance), held_points=int(held), debt_points=int(debt),
        cash_value=str(prog.cash_value(int(balance))), currency=prog.currency,
        expiring_by_month=dict(sorted(by_month.items())), as_of=now,
    )
