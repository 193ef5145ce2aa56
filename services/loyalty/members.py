"""Members: enrolment (individual, family, enterprise), rosters, the member view and the statement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import customers, ledger, organisations, repository
from services.loyalty.models import Member
from services.loyalty.programme import Programme
from services.loyalty.rules import Stats, effective_tier, next_anniversary, progress, segments_of
from services.loyalty.schemas import (
    Expiring, MemberPublic, OverridePublic, RedemptionPublic, Statement, TierProgress, entry_public,
)
from shared.db import utcnow
from shared.errors import Conflict, Unprocessable
from shared.pages import decode_cursor, page_of


async def enrol(
    session: AsyncSession, customer_id: str, now: datetime, *, member_type: str = "individual",
    points_to: str = "account", roster: list[str] | None = None, organisation_id: str | None = None,
    field: str = "customer_id",
) -> tuple[Member, bool]:
    """Enrol a customer profile knows (and a family's or enterprise's roster; an enterprise names its known
    organisation); returns (member, created). An unknown customer is a 422 naming `field`."""
    existing = await repository.get_member(session, customer_id, lock=True)
    if existing is not None:
        if existing.status == "merged":
            surviving = await repository.resolve(session, customer_id)
            if surviving is not None:
                return surviving, False
        if existing.status == "active":
            if roster:
                await add_to_roster(session, existing, roster, now)
            return existing, False
    if member_type == "enterprise":
        await organisations.require(session, organisation_id)
    await customers.require_known(session, customer_id, field=field, organisation_id=organisation_id)
    today = repository.local_date(session, now)
    member = ledger.new_member(session, customer_id, now, next_anniversary(today, today), member_type=member_type,
                               points_to=points_to)
    member.organisation_id = organisation_id if member_type == "enterprise" else None
    await session.flush()
    if roster:
        await add_to_roster(session, member, roster, now)
    return member, True


async def add_to_roster(session: AsyncSession, head: Member, roster: list[str], now: datetime) -> None:
    """Attach customers (enrolled if new) to a family's or enterprise's account."""
    if head.member_type == "individual":
        raise Unprocessable("only family and enterprise members have a roster", field="members")
    for customer_id in roster:
        if customer_id == head.customer_id:
            continue
        member = await repository.resolve(session, customer_id, lock=True)
        if member is None:
            member, _ = await enrol(session, customer_id, now, field="members")
        if member.account_id not in (None, head.customer_id):
            raise Conflict(f"customer {customer_id} already belongs to account {member.account_id}")
        if member.member_type != "individual":
            raise Unprocessable(f"{customer_id} is itself a {member.member_type} account", field="members")
        member.account_id = head.customer_id
        member.updated_at = now


# --- what a member sees --------------------------------------------------------------------------


async def view(session: AsyncSession, member: Member) -> MemberPublic:
    """The member view: tier, balance, holds, points expiring soon, tier progress, benefits (after a change;
    GET reads it through `member_reads.member`)."""
    now = utcnow()
    today = repository.local_date(session, now)
    _, prog = await repository.programme(session)
    account = await repository.account_of(session, member)
    return shape(member, account, prog, today, holds=await repository.live_holds(session, account.customer_id, now),
                 stats=await repository.qualification(session, account.customer_id, prog, now),
                 roster=await repository.roster(session, account.customer_id),
                 expiring=await repository.expiring(session, account.customer_id,
                                                    today + timedelta(days=prog.notice_days)))


def shape(member: Any, account: Any, prog: Programme, today: date, *, holds: Sequence[Any], stats: Stats,
          roster: list[str], expiring: list[tuple[date, int]]) -> MemberPublic:
    """The member view from its rows (ORM objects or `shared.lane.Row`s, read the same way)."""
    held = sum(r.points for r in holds)
    tier = effective_tier(account, today)
    return MemberPublic(
        customer_id=member.customer_id, account_id=account.customer_id, member_type=account.member_type,
        points_to=account.points_to, organisation_id=account.organisation_id, roster=roster, tier=tier,
        tier_label=prog.tier(tier).label,
        tier_override=(OverridePublic(tier=account.tier_override, until=account.tier_override_until)
                       if tier != account.tier else None),
        points_balance=account.balance, points_available=account.balance - held, points_held=held, debt=account.debt,
        pending_holds=[RedemptionPublic.model_validate(r, from_attributes=True) for r in holds],
        expiring_soon=[Expiring(points=p, expires_on=d) for d, p in expiring],
        tier_progress=TierProgress(**progress(prog, account.tier, stats), review_on=account.next_review_on),
        benefits=prog.tier(tier).benefits, segments=segments_of(account), enrolled_at=member.enrolled_at,
    )


async def statement(session: AsyncSession, customer_id: str, cursor: str | None, limit: int) -> Statement:
    """The account's entries, newest first, a page at a time."""
    member = await repository.require_member(session, customer_id)
    account = await repository.account_of(session, member)
    after = decode_cursor(cursor, int)
    rows = await repository.entries(session, account.customer_id, before=after[0] if after else None, limit=limit + 1)
    page = page_of(rows, limit, key=lambda e: (e.id,), item=entry_public)
    return Statement(
        items=page.items, next_cursor=page.next_cursor, customer_id=member.customer_id, account_id=account.customer_id,
        points_balance=account.balance, debt=account.debt,
        debt_note=(f"debt of {account.debt} points: reversed earnings that were already spent; future earnings settle it"
                   if account.debt else None),
    )
