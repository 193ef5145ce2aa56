"""Queries of contact history, the care work queue, leads, at-risk episodes and lapses; never commits. Lists cut
with a cursor fetch `limit + 1` rows after the key they are given."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile.contact_models import AtRiskEpisode, ContactRecord, LapseReason, Lead
from services.profile.models import Booking, CareTask, CustomerValue
from services.profile.repository import chunks
from shared.errors import NotFound

OPEN_TASK = CareTask.status != "completed"


async def contacts_page(session: AsyncSession, customer_id: str, after: tuple[datetime, str] | None,
                        limit: int) -> list[ContactRecord]:
    """A customer's contacts, newest first."""
    c = ContactRecord
    query = select(c).where(c.customer_id == customer_id).order_by(c.occurred_at.desc(), c.id).limit(limit + 1)
    if after is not None:
        at, cid = after
        query = query.where((c.occurred_at < at) | ((c.occurred_at == at) & (c.id > cid)))
    return list((await session.execute(query)).scalars())


async def contact_count(session: AsyncSession, customer_id: str) -> int:
    return (await session.execute(select(func.count()).where(ContactRecord.customer_id == customer_id))).scalar_one()


async def next_return_visit(session: AsyncSession, customer_id: str) -> CareTask | None:
    """The customer's earliest open return-visit task."""
    return (await session.execute(
        select(CareTask).where(CareTask.customer_id == customer_id, CareTask.kind == "return-visit", OPEN_TASK)
        .order_by(CareTask.due_at, CareTask.id).limit(1))).scalar_one_or_none()


async def get_task(session: AsyncSession, task_id: str, *, for_update: bool = False) -> CareTask:
    task = await session.get(CareTask, task_id, with_for_update=for_update or None)
    if task is None:
        raise NotFound("care task", task_id)
    return task


async def open_tasks_page(session: AsyncSession, after: tuple[datetime, str] | None, limit: int, *,
                          assignee: str | None, kind: str | None, due_before: datetime | None) -> list[CareTask]:
    """Open care tasks (not completed) by due time; filters apply when given."""
    t = CareTask
    query = select(t).where(OPEN_TASK).order_by(t.due_at, t.id).limit(limit + 1)
    for column, value in ((t.assignee, assignee), (t.kind, kind)):
        if value is not None:
            query = query.where(column == value)
    if due_before is not None:
        query = query.where(t.due_at < due_before)
    if after is not None:
        at, tid = after
        query = query.where((t.due_at > at) | ((t.due_at == at) & (t.id > tid)))
    return list((await session.execute(query)).scalars())


async def open_task_of_kind(session: AsyncSession, customer_id: str, kind: str) -> CareTask | None:
    return (await session.execute(select(CareTask).where(
        CareTask.customer_id == customer_id, CareTask.kind == kind, OPEN_TASK).order_by(CareTask.due_at).limit(1))
    ).scalar_one_or_none()


async def care_task_at(session: AsyncSession, customer_id: str, kind: str, occasion: str) -> CareTask | None:
    return (await session.execute(select(CareTask).where(
        CareTask.customer_id == customer_id, CareTask.kind == kind, CareTask.occasion == occasion))).scalar_one_or_none()


# --- leads ----------------------------------------------------------------------------------------------


async def leads_page(session: AsyncSession, after: tuple[datetime, str] | None, limit: int,
                     **equal: Any) -> list[Lead]:
    """Leads, newest first; `equal`: column == value, for the values not None."""
    query = select(Lead).order_by(Lead.opened_at.desc(), Lead.id).limit(limit + 1)
    for column, value in equal.items():
        if value is not None:
            query = query.where(getattr(Lead, column) == value)
    if after is not None:
        at, lid = after
        query = query.where((Lead.opened_at < at) | ((Lead.opened_at == at) & (Lead.id > lid)))
    return list((await session.execute(query)).scalars())


async def open_leads_of(session: AsyncSession, customer_ids: Iterable[str]) -> list[Lead]:
    found: list[Lead] = []
    for chunk in chunks(sorted(set(customer_ids))):
        found += (await session.execute(select(Lead).where(Lead.customer_id.in_(chunk), Lead.status == "open")
                                        .order_by(Lead.opened_at, Lead.id))).scalars()
    return found


async def completed_bookings_since(session: AsyncSession, customer_ids: Iterable[str],
                                   since: datetime) -> list[tuple[str, str, datetime]]:
    """(customer, booking, completed_at) of completed bookings at or after `since`, oldest first."""
    found: list[tuple[str, str, datetime]] = []
    for chunk in chunks(sorted(set(customer_ids))):
        found += [tuple(r) for r in (await session.execute(  # type: ignore[misc]
            select(Booking.customer_id, Booking.booking_id, Booking.completed_at)
            .where(Booking.customer_id.in_(chunk), Booking.status == "completed", Booking.completed_at >= since)
            .order_by(Booking.completed_at, Booking.booking_id))).all()]
    return found


# --- at-risk episodes, lapses ----------------------------------------------------------------------------


async def end_episode(session: AsyncSession, customer_id: str, now: datetime, ended_by: str) -> None:
    e = AtRiskEpisode
    await session.execute(update(e).where(e.customer_id == customer_id, e.ended_at.is_(None))
                          .values(ended_at=now, ended_by=ended_by).execution_options(synchronize_session=False))


async def episodes_marked(session: AsyncSession, start: datetime, end: datetime) -> list[AtRiskEpisode]:
    e = AtRiskEpisode
    return list((await session.execute(select(e).where(e.marked_at >= start, e.marked_at < end))).scalars())


async def lapse_candidates(session: AsyncSession, inactive_since: datetime) -> list[CustomerValue]:
    """Values of buyers who have not booked since `inactive_since`, or whom staff gave a lapse reason."""
    v = CustomerValue
    reasoned = select(LapseReason.customer_id)
    return list((await session.execute(select(v).where(v.frequency > 0, or_(
        v.last_booking_at < inactive_since, v.customer_id.in_(reasoned))))).scalars())


async def lapse_reasons_of(session: AsyncSession, customer_ids: Iterable[str]) -> dict[str, LapseReason]:
    found: dict[str, LapseReason] = {}
    for chunk in chunks(sorted(set(customer_ids))):
        found.update((r.customer_id, r) for r in (await session.execute(
            select(LapseReason).where(LapseReason.customer_id.in_(chunk)))).scalars())
    return found
