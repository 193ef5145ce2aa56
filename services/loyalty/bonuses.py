"""Credits and debits besides bookings: goodwill for a complaint (withdrawn when it reopens), survey bonuses,
admin adjustments. Credits are a plan of one (`rules.plan_credit`) written by `ledger.record`, as earnings are."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import ledger, repository, rules
from services.loyalty.models import LedgerEntry, Member
from shared.errors import Unprocessable
from shared.events import ComplaintReopened, ComplaintResolved, FeedbackSubmitted


async def credit(session: AsyncSession, member: Member | None, customer_id: str, points: int, now: datetime,
                 **movement: Any) -> list[int]:
    """Credit `points` to the member's account (enrolling a new customer); the ids of the entries written."""
    members: dict[str, Member] = {}
    account = None
    if member is not None:
        account = await repository.account_of(session, member, lock=True)
        members[account.customer_id] = account
    _, prog = await repository.programme(session)
    plan = rules.plan_credit(prog, repository.tz(session), account, customer_id, points, now=now, **movement)
    return await ledger.record(session, plan, members)


async def goodwill(session: AsyncSession, data: ComplaintResolved, now: datetime) -> int:
    """complaint-resolved with compensation → goodwill points, once per complaint."""
    key = f"goodwill:{data.complaint_id}"
    if data.compensation_points <= 0 or await repository.entry_exists(session, key):
        return 0
    member = await repository.resolve(session, data.customer_id, lock=True)
    await credit(session, member, data.customer_id, data.compensation_points, now, kind="goodwill",
                 event="goodwill", cause_type="complaint", cause_id=data.complaint_id, business_key=key,
                 earned_by=member.customer_id if member else data.customer_id,
                 reason=f"compensation for complaint ({data.category})"[:500])
    return data.compensation_points


async def withdraw_goodwill(session: AsyncSession, data: ComplaintReopened, now: datetime) -> int:
    """complaint-reopened with the compensation withdrawn → take the goodwill back (debt for what is spent)."""
    if not data.compensation_withdrawn:
        return 0
    credited = (await session.execute(
        select(LedgerEntry).where(LedgerEntry.business_key == f"goodwill:{data.complaint_id}")
    )).scalar_one_or_none()
    if credited is None or await repository.entry_exists(session, f"goodwill-withdrawn:{data.complaint_id}"):
        return 0
    account = await repository.get_member(session, credited.customer_id, lock=True)
    if account is None or account.status != "active":
        return 0
    available = account.balance - await repository.held(session, account.customer_id, now)
    return await ledger.take_back(
        session, account, credited.points, available, cause_type="complaint", cause_id=data.complaint_id,
        business_key=f"goodwill-withdrawn:{data.complaint_id}", now=now,
        reason="complaint reopened, compensation withdrawn", debt_note="{owed} points recorded as debt",
    )


async def survey_bonus(session: AsyncSession, data: FeedbackSubmitted, now: datetime) -> int:
    """feedback-submitted by a member → the survey bonus, once per survey."""
    key = f"survey:{data.survey_id}"
    member = await repository.resolve(session, data.customer_id, lock=True)
    if member is None or await repository.entry_exists(session, key):
        return 0
    _, prog = await repository.programme(session)
    if prog.survey_bonus <= 0:
        return 0
    await credit(session, member, data.customer_id, prog.survey_bonus, now, kind="bonus", event="survey",
                 cause_type="survey", cause_id=data.survey_id, business_key=key, earned_by=member.customer_id,
                 reason="survey bonus")
    return prog.survey_bonus


async def adjust(session: AsyncSession, customer_id: str, points: int, reason: str, actor: str,
                 now: datetime) -> tuple[Member, LedgerEntry]:
    """An admin's adjustment: a credit into a new lot, or a debit of what is available (points-reversed)."""
    member, account = await repository.require_account(session, customer_id)
    if points > 0:
        written = await credit(session, member, customer_id, points, now, kind="adjust", event="adjust",
                               cause_type="admin", cause_id=actor, earned_by=member.customer_id, reason=reason,
                               actor=actor)
        entry = await session.get(LedgerEntry, written[0])
    else:
        available = account.balance - await repository.held(session, account.customer_id, now)
        if -points > available:
            raise Unprocessable(f"cannot take {-points} points: {available} available", field="points",
                                available=available)
        entry = await ledger.debit(session, account, kind="adjust", points=-points, cause_type="admin", cause_id=actor,
                                   cause=reason[:200], now=now, reason=reason, actor=actor,
                                   earned_by=member.customer_id)
    return account, entry
