"""Queries of the complaints service; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.complaints.models import (
    BookingFact, Complaint, ConsentFact, Crisis, CrisisNoticeSent, Pause, Solution, TimelineEntry,
)
from services.complaints.sla import Stretch
from services.complaints.workflow import OPEN_STATES
from shared.errors import NotFound
from shared.lane import Nested


async def complaint(session: AsyncSession, complaint_id: str, *, lock: bool = False) -> Complaint:
    query = select(Complaint).where(Complaint.id == complaint_id)
    if lock:
        query = query.with_for_update()
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise NotFound("complaint", complaint_id)
    return found


# The read of one complaint as one prebuilt statement for `shared.lane.reads` (GET /v1/complaints/{id}): the
# complaint row with its timeline and its solutions as JSON columns (`shared.lane.Nested`).
_c, _t, _s = Complaint.__table__, TimelineEntry.__table__, Solution.__table__
TIMELINE_OF = Nested(select(_t).where(_t.c.complaint_id == bindparam("id")), _t.c.id)
SOLUTIONS_OF = Nested(select(_s).where(_s.c.complaint_id == bindparam("id")), _s.c.created_at, _s.c.id)
COMPLAINT_READ = select(_c, TIMELINE_OF.column.label("timeline"), SOLUTIONS_OF.column.label("solutions")
                        ).where(_c.c.id == bindparam("id"))


async def find(session: AsyncSession, complaint_id: str) -> Complaint | None:
    return await session.get(Complaint, complaint_id)


async def by_source(session: AsyncSession, source_ref: str) -> Complaint | None:
    return (await session.execute(select(Complaint).where(Complaint.source_ref == source_ref))).scalar_one_or_none()


async def timeline(session: AsyncSession, complaint_id: str) -> Sequence[TimelineEntry]:
    return (await session.execute(select(TimelineEntry).where(TimelineEntry.complaint_id == complaint_id)
                                  .order_by(TimelineEntry.id))).scalars().all()


async def solutions(session: AsyncSession, complaint_id: str) -> Sequence[Solution]:
    return (await session.execute(select(Solution).where(Solution.complaint_id == complaint_id)
                                  .order_by(Solution.created_at, Solution.id))).scalars().all()


async def solution(session: AsyncSession, complaint_id: str, solution_id: str) -> Solution:
    found = (await session.execute(select(Solution).where(Solution.id == solution_id,
                                                          Solution.complaint_id == complaint_id))).scalar_one_or_none()
    if found is None:
        raise NotFound("solution", solution_id)
    return found


async def pauses(session: AsyncSession, complaint_id: str) -> list[Stretch]:
    rows = (await session.execute(select(Pause).where(Pause.complaint_id == complaint_id)
                                  .order_by(Pause.started_at))).scalars().all()
    return [Stretch(p.started_at, p.ended_at) for p in rows]


async def open_pause(session: AsyncSession, complaint_id: str) -> Pause | None:
    return (await session.execute(select(Pause).where(Pause.complaint_id == complaint_id,
                                                      Pause.ended_at.is_(None)))).scalar_one_or_none()


async def listing(session: AsyncSession, *, limit: int, after: tuple | None, customer: str | None, state: str | None,
                  category: str | None, severity: str | None, product: str | None) -> Sequence[Complaint]:
    """Newest first, keyed by (filed_at, id)."""
    query = select(Complaint)
    for column, value in ((Complaint.customer_id, customer), (Complaint.state, state),
                          (Complaint.category, category), (Complaint.severity, severity),
                          (Complaint.product_id, product)):
        if value is not None:
            query = query.where(column == value)
    if after is not None:
        filed_at, ident = after
        query = query.where(or_(Complaint.filed_at < filed_at, (Complaint.filed_at == filed_at) & (Complaint.id < ident)))
    query = query.order_by(Complaint.filed_at.desc(), Complaint.id.desc()).limit(limit + 1)
    return (await session.execute(query)).scalars().all()


async def clocked(session: AsyncSession, *, after: str = "", limit: int = 500) -> Sequence[Complaint]:
    """Open complaints whose clocks run (not paused), a chunk at a time in id order."""
    return (await session.execute(select(Complaint).where(Complaint.state.in_(OPEN_STATES), Complaint.paused.is_(False),
                                                          Complaint.id > after)
                                  .order_by(Complaint.id).limit(limit))).scalars().all()


async def open_complaints(session: AsyncSession) -> Sequence[Complaint]:
    return (await session.execute(select(Complaint).where(Complaint.state.in_(OPEN_STATES)))).scalars().all()


async def latest_awaiting_answer(session: AsyncSession, customer_id: str) -> Complaint | None:
    """The customer's most recently resolved complaint still waiting for its follow-up answer."""
    return (await session.execute(select(Complaint).where(Complaint.customer_id == customer_id,
                                                          Complaint.state.in_(("resolved", "follow_up")))
                                  .order_by(Complaint.resolved_at.desc()).limit(1))).scalar_one_or_none()


async def count_in_window(session: AsyncSession, column, value: str, since: datetime) -> int:  # noqa: ANN001
    return (await session.execute(select(func.count()).select_from(Complaint)
                                  .where(column == value, Complaint.filed_at >= since))).scalar_one()


async def in_window(session: AsyncSession, column, value: str, since: datetime) -> Sequence[Complaint]:  # noqa: ANN001
    return (await session.execute(select(Complaint).where(column == value, Complaint.filed_at >= since))).scalars().all()


async def open_crisis(session: AsyncSession, scope_kind: str, scope_value: str) -> Crisis | None:
    return (await session.execute(select(Crisis).where(Crisis.scope_kind == scope_kind, Crisis.scope_value == scope_value,
                                                       Crisis.status == "open"))).scalars().first()


async def crisis(session: AsyncSession, crisis_id: str) -> Crisis:
    found = await session.get(Crisis, crisis_id)
    if found is None:
        raise NotFound("crisis", crisis_id)
    return found


async def crisis_complaints(session: AsyncSession, crisis_id: str) -> Sequence[Complaint]:
    return (await session.execute(select(Complaint).where(Complaint.crisis_id == crisis_id)
                                  .order_by(Complaint.filed_at))).scalars().all()


async def notices_sent(session: AsyncSession, crisis_id: str) -> int:
    return (await session.execute(select(func.count()).select_from(CrisisNoticeSent)
                                  .where(CrisisNoticeSent.crisis_id == crisis_id))).scalar_one()


async def affected_bookings(session: AsyncSession, crisis: Crisis) -> Sequence[BookingFact]:
    column = BookingFact.product_id if crisis.scope_kind == "product" else BookingFact.destination
    query = select(BookingFact).where(column == crisis.scope_value, BookingFact.cancelled.is_(False))
    if crisis.affected_to is not None:
        query = query.where(or_(BookingFact.travel_start.is_(None), BookingFact.travel_start <= crisis.affected_to))
    if crisis.affected_from is not None:
        query = query.where(or_(BookingFact.travel_end.is_(None), BookingFact.travel_end >= crisis.affected_from))
    return (await session.execute(query.order_by(BookingFact.customer_id))).scalars().all()


async def service_channels(session: AsyncSession, customer_id: str) -> list[str]:
    rows = (await session.execute(select(ConsentFact.channel).where(ConsentFact.customer_id == customer_id,
                                                                    ConsentFact.granted.is_(True))
                                  .order_by(ConsentFact.changed_at.desc()))).scalars().all()
    return list(rows)
