"""Segment membership as events: evaluate a segment's rules, diff with the membership stored at the last evaluation,
store the new one and emit segment-membership-changed (joined / left) for each customer whose membership changed —
nothing when nothing changed. Run for every segment by a periodic job, and for one on request."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import repository as repo, segments
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


async def _attributes(session: AsyncSession, now: datetime) -> dict[str, dict[str, Any]]:
    return await segments.attributes(session, now.astimezone(settings_of(session).tz).date())


async def evaluate(session: AsyncSession, segment: Segment, now: datetime,
                   rows: dict[str, dict[str, Any]] | None = None) -> Evaluated:
    """Store the segment's members now and emit joined / left for the difference with the last evaluation
    (`rows`: the customers' attributes, read once for many segments)."""
    current = set(segments.matching(segment, rows if rows is not None else await _attributes(session, now)))
    stored = {cid for (cid,) in await repo.select_rows(session, SegmentMembership.customer_id,
                                                       where=(SegmentMembership.segment_id == segment.id,))}
    joined, left = sorted(current - stored), sorted(stored - current)
    for cid in joined:
        session.add(SegmentMembership(segment_id=segment.id, customer_id=cid, joined_at=now))
    for chunk in repo.chunks(left):
        await session.execute(delete(SegmentMembership).where(SegmentMembership.segment_id == segment.id,
                                                              SegmentMembership.customer_id.in_(chunk)))
    for change, ids in (("joined", joined), ("left", left)):
        for cid in ids:
            outbox.emit(session, ev.SegmentMembershipChanged(customer_id=cid, segment_id=segment.id,
                                                             segment=segment.name, change=change, changed_at=now), cid)
    await session.flush()
    return Evaluated(segment_id=segment.id, size=len(current), joined=joined, left=left)


async def evaluate_one(session: AsyncSession, segment_id: str) -> Evaluated:
    """Evaluate one segment now (the route)."""
    return await evaluate(session, await repo.get_row(session, Segment, segment_id, "segment"), utcnow())


async def evaluate_all(session: AsyncSession, now: datetime) -> dict[str, int]:
    """Every segment (the periodic job): counts of joined and left."""
    counts = {"joined": 0, "left": 0}
    rows = await _attributes(session, now)
    for segment in await repo.segments(session):
        done = await evaluate(session, segment, now, rows)
        counts["joined"] += len(done.joined)
        counts["left"] += len(done.left)
    return counts
