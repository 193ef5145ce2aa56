"""Win-back that closes: each at-risk mark is an episode (opened by scoring when the churn score crosses the
threshold); a completed booking after the mark ends it as won back and clears the mark. The report gives the
win-back rate of the customers marked in a period."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import contact_repository as crepo
from services.profile.contact_models import AtRiskEpisode
from services.profile.contact_public import WinBackReport
from services.profile.models import CustomerValue
from shared.db import new_id, settings_of
from shared.errors import Unprocessable


def booked_since_mark(row: CustomerValue) -> bool:
    """The customer completed a booking after being marked at risk."""
    return bool(row.at_risk and row.at_risk_since and row.last_booking_at and row.last_booking_at > row.at_risk_since)


def mark(session: AsyncSession, row: CustomerValue, now: datetime) -> None:
    """Open the episode of a fresh at-risk mark."""
    session.add(AtRiskEpisode(id=new_id(), customer_id=row.customer_id, score=row.churn_score, marked_at=now))


async def close(session: AsyncSession, customer_id: str, now: datetime, *, ended_by: str) -> None:
    """End the customer's open episode: `booking` (won back) or `score` (the risk faded)."""
    await crepo.end_episode(session, customer_id, now, ended_by)


async def report(session: AsyncSession, start: date, end: date) -> WinBackReport:
    """Customers marked at risk in [start, end) (business dates) and how many booked again after their mark."""
    if end <= start:
        raise Unprocessable("end must be after start", field="end")
    tz = settings_of(session).tz
    marked: dict[str, datetime] = {}
    for episode in await crepo.episodes_marked(session, datetime.combine(start, time(), tz),
                                               datetime.combine(end, time(), tz)):
        first = marked.get(episode.customer_id)
        marked[episode.customer_id] = episode.marked_at if first is None else min(first, episode.marked_at)
    won = set()
    if marked:
        for cid, _, at in await crepo.completed_bookings_since(session, marked, min(marked.values())):
            if at > marked[cid]:
                won.add(cid)
    return WinBackReport(start=start, end=end, at_risk=len(marked), won_back=len(won),
                         rate=round(len(won) / len(marked), 4) if marked else None)
