"""Win-back offers: a bonus offered to an at-risk customer, paid with their next completed booking (rules.py)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import repository
from services.loyalty.models import Offer
from services.loyalty.rules import segments_of
from shared.db import new_id
from shared.events import CustomerAtRisk


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
    return offer
