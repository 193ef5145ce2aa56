"""Tiers over time: upgrade on qualification, the anniversary review (one tier down at most, after a grace
period), admin overrides with an end date."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import repository
from services.loyalty.repository import local_date
from services.loyalty.models import Member
from services.loyalty.rules import add_months, effective_tier, in_grace, qualified_tier, reviewed_tier, tier_rank
from shared.errors import Unprocessable
from shared.events import TierChanged
from shared.outbox import emit


def announce(member: Member, before: str, after: str, reason: str, now: datetime, session: AsyncSession) -> None:
    if before != after:
        emit(session, TierChanged(customer_id=member.customer_id, old_tier=before, new_tier=after, reason=reason,
                                  changed_at=now), member.customer_id)


async def evaluate_tier(session: AsyncSession, member: Member, now: datetime) -> None:
    """Upgrade at once when the member qualifies for a higher tier."""
    _, prog = await repository.programme(session)
    today = local_date(session, now)
    qualified = qualified_tier(prog, await repository.qualification(session, member.customer_id, prog, now))
    if tier_rank(qualified) > tier_rank(member.tier):
        before = effective_tier(member, today)
        member.tier, member.tier_since = qualified, now
        announce(member, before, effective_tier(member, today), "upgrade", now, session)


async def review_tiers(session: AsyncSession, now: datetime, *, limit: int = 1000) -> int:
    """Daily: anniversary reviews (one tier down at most, grace period) and ended overrides."""
    _, prog = await repository.programme(session)
    today = local_date(session, now)
    changed = 0
    ids = set((await session.execute(
        select(Member.customer_id).where(Member.status == "active", or_(
            Member.next_review_on <= today, Member.tier_override_until < today)).limit(limit)
    )).scalars())
    for customer_id in sorted(ids):
        member = await repository.get_member(session, customer_id, lock=True)
        if member is None:
            continue
        before = effective_tier(member, today)
        if member.tier_override_until is not None and member.tier_override_until < today:
            member.tier_override, member.tier_override_until = None, None
        if member.next_review_on <= today:
            qualified = qualified_tier(prog, await repository.qualification(session, customer_id, prog, now))
            protected = in_grace(prog, local_date(session, member.tier_since), member.next_review_on)
            tier = reviewed_tier(prog, member.tier, qualified, protected)
            if tier != member.tier:
                member.tier, member.tier_since = tier, now
            while member.next_review_on <= today:
                member.next_review_on = add_months(member.next_review_on, 12)
        after = effective_tier(member, today)
        changed += after != before
        announce(member, before, after, "review", now, session)
        member.updated_at = now
    return changed


async def override_tier(session: AsyncSession, customer_id: str, tier: str, until: date, reason: str, actor: str,
                        now: datetime) -> Member:
    """An admin's tier override until a date (inclusive)."""
    member = await repository.require_member(session, customer_id, lock=True)
    today = local_date(session, now)
    if until < today:
        raise Unprocessable("the override must end today or later", field="until")
    before = effective_tier(member, today)
    member.tier_override, member.tier_override_until, member.updated_at = tier, until, now
    announce(member, before, tier, f"override by {actor}: {reason}"[:300], now, session)
    return member
