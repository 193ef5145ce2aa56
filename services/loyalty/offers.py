"""Win-back offers: a bonus offered to an at-risk customer (announced once, win-back-offered), paid with their next
completed booking (rules.py); the win-back rate."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import cohorts, repository
from services.loyalty.insights import WinBackRate
from services.loyalty.models import Offer
from services.loyalty.rules import segments_of
from services.loyalty.uplift import share
from shared.db import new_id
from shared.events import CustomerAtRisk, WinBackOffered
from shared.outbox import emit


async def winback_offer(session: AsyncSession, data: CustomerAtRisk, now: datetime) -> Offer | None:
    """customer-at-risk → the member joins the at-risk segment and gets one open win-back offer."""
    member = await repository.resolve(session, data.customer_id, lock=True)
    if member is None:
        return None
    member.segments = json.dumps(sorted(set(segments_of(member)) | {"at-risk"}))
    existing = (await session.execute(
        select(Offer).where(Offer.customer_id == member.customer_id, Offer.status == "open", Offer.expires_at > now)
    )).scalar_one_or_none()
    if existing is not None:
        return existing
    _, prog = await repository.programme(session)
    offer = Offer(id=new_id(), customer_id=member.customer_id, kind="win-back", points=prog.winback_bonus,
                  expires_at=now + timedelta(days=prog.winback_days), created_at=now)
    session.add(offer)
    emit(session, WinBackOffered(customer_id=offer.customer_id, offer_id=offer.id, points=offer.points,
                                 expires_at=offer.expires_at), offer.customer_id)
    return offer


async def winback_rate(session: AsyncSession, start: date | None, end: date | None, now: datetime) -> WinBackRate:
    """Win-back offers made in [start, end] (business days; the last 30 days by default), how many a next booking
    redeemed, and the rate."""
    start, end = cohorts.period(start, end, repository.local_date(session, now))
    lo, hi = cohorts.day_range(session, start, end)
    made, redeemed = await cohorts.offers_between(session, lo, hi)
    return WinBackRate(start=start, end=end, offers=made, redeemed=redeemed, rate=share(redeemed, made))
