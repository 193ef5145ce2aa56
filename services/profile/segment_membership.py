"""Segment membership as events: evaluate a segment's rules, diff with the membership stored at the last evaluation,
store the new one and emit segment-membership-changed (joined / left) for each customer whose membership changed —
nothing when nothing changed. Run for every segment by a periodic job, and for one on request."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import delete, func, insert, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import repository as repo, segment_sql
from services.profile.account_models import SegmentMembership
from services.profile.models import Segment
from shared import events as ev
from shared import outbox
from shared.db import settings_of, utcnow

EVERY_SECONDS = 900


class Evaluated(BaseModel):
    segment_id: str
    size: int
    joined: list[str]
    left: list[str]


async def evaluate(session: AsyncSession, segment: Segment, now: datetime) -> Evaluated:
    """Store the segment's members now and emit joined / left for the difference with the last evaluation; the
    difference is found in the database, so only the changes come back."""
    today = now.astimezone(settings_of(session).tz).date()
    joined, left = await segment_sql.changes(session, segment, today)
    if joined:
        await session.execute(insert(SegmentMembership.__table__),
                              [{"segment_id": segment.id, "customer_id": cid, "joined_at": now} for cid in joined])
    for chunk in repo.chunks(left):
        await session.execute(delete(SegmentMembership).where(SegmentMembership.segment_id == segment.id,
                                                              SegmentMembership.customer_id.in_(chunk)))
    for change, ids in (("joined", joined), ("left", left)):
        for cid in ids:
            outbox.emit(session, ev.SegmentMembershipChanged(customer_id=cid, segment_id=segment.id,
                                                             segment=segment.name, change=change, changed_at=now), cid)
    await session.flush()
    size = (await session.execute(select(func.count()).select_from(SegmentMembership).where(
        SegmentMembership.segment_id == segment.id))).scalar_one()
    return Evaluated(segment_id=segment.id, size=size, joined=joined, left=left)


async def evaluate_one(session: AsyncSession, segment_id: str) -> Evaluated:
    """Evaluate one segment now (the route)."""
    return await evaluate(session, await repo.get_row(session, Segment, segment_id, "segment"), utcnow())


async def evaluate_all(session: AsyncSession, now: datetime) -> dict[str, int]:
    """Every segment (the periodic job): counts of joined and left."""
    counts = {"joined": 0, "left": 0}
    for segment in await repo.segments(session):
        done = await evaluate(session, segment, now)
        counts["joined"] += len(done.joined)
        counts["left"] += len(done.left)
    return counts
