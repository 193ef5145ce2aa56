"""Points expiry (FIFO by earn date) and the notices before it happens: points-expiring, and the warning
of a tier downgrade at the coming review. Each notice is sent once (table loyalty_notice)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import ledger, repository
from services.loyalty.models import Lot, Member, Notice
from services.loyalty.rules import in_grace, missing, qualified_tier, reviewed_tier, tier_rank
from services.loyalty.repository import local_date
from shared.events import PointsExpired, PointsExpiring, TierDowngradeWarning
from shared.outbox import emit


async def expire_points(session: AsyncSession, now: datetime, *, limit: int = 1000) -> int:
    """Expire lots whose date has come, FIFO; points reserved by a live hold wait until it settles."""
    today = local_date(session, now)
    customers = list((await session.execute(
        select(Lot.customer_id).where(Lot.remaining > 0, Lot.expires_on <= today).group_by(Lot.customer_id)
        .order_by(Lot.customer_id).limit(limit)
    )).scalars())
    total = 0
    for customer_id in customers:
        member = await repository.get_member(session, customer_id, lock=True)
        if member is None or member.status != "active":
            continue
        due = list((await session.execute(
            select(Lot).where(Lot.customer_id == customer_id, Lot.remaining > 0, Lot.expires_on <= today)
            .order_by(Lot.earned_at, Lot.id).with_for_update().execution_options(populate_existing=True)
        )).scalars())
        room = member.balance - await repository.held(session, customer_id, now)
        points = 0
        for lot in due:
            take = min(lot.remaining, room - points)
            if take <= 0:
                break
            lot.remaining -= take
            lot.expired += take
            points += take
        if points:
            entry = await ledger.write_entry(session, member, kind="expire", points=-points, cause_type="expiry",
                                             cause_id=today.isoformat(), now=now,
                                             reason="points expired (FIFO by earn date)")
            emit(session, PointsExpired(customer_id=customer_id, points=-points, balance=member.balance,
                                        entry_id=str(entry.id), cause=today.isoformat()), customer_id)
            total += points
    return total


async def _once(session: AsyncSession, key: str, customer_id: str, kind: str, now: datetime) -> bool:
    if await session.get(Notice, key) is not None:
        return False
    session.add(Notice(key=key, customer_id=customer_id, kind=kind, created_at=now))
    return True


async def emit_notices(session: AsyncSession, now: datetime) -> int:
    """points-expiring and tier-downgrade-warning, `notice_days` ahead, once each; returns how many were sent."""
    _, prog = await repository.programme(session)
    today = local_date(session, now)
    horizon = today + timedelta(days=prog.notice_days)
    sent = 0
    rows = (await session.execute(
        select(Lot.customer_id, Lot.expires_on, func.sum(Lot.remaining))
        .join(Member, Member.customer_id == Lot.customer_id)
        .where(Lot.remaining > 0, Lot.expires_on > today, Lot.expires_on <= horizon, Member.status == "active")
        .group_by(Lot.customer_id, Lot.expires_on)
    )).all()
    for customer_id, expires_on, points in rows:
        if await _once(session, f"expiring:{customer_id}:{expires_on.isoformat()}", customer_id, "points-expiring", now):
            emit(session, PointsExpiring(customer_id=customer_id, points=int(points), expires_on=expires_on), customer_id)
            sent += 1
    members = list((await session.execute(
        select(Member).where(Member.status == "active", Member.tier != "regular", Member.next_review_on > today,
                             Member.next_review_on <= horizon)
    )).scalars())
    for member in members:
        stats = await repository.qualification(session, member.customer_id, prog, now)
        qualified = qualified_tier(prog, stats)
        if (tier_rank(qualified) >= tier_rank(member.tier)
                or in_grace(prog, local_date(session, member.tier_since), member.next_review_on)):
            continue
        review_on = member.next_review_on
        if await _once(session, f"downgrade:{member.customer_id}:{review_on.isoformat()}", member.customer_id,
                       "tier-downgrade-warning", now):
            emit(session, TierDowngradeWarning(
                customer_id=member.customer_id, current_tier=member.tier, review_on=review_on,
                next_tier=reviewed_tier(prog, member.tier, qualified, protected=False),
                missing=missing(prog, member.tier, stats)), member.customer_id)
            sent += 1
    return sent
