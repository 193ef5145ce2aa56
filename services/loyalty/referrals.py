"""Referrals: a member's code; a new customer registered under it; the referrer's bonus is planned with the
referee's first trip (rules.py)."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import repository
from services.loyalty.models import Booking, Referral, ReferralCode
from shared.db import new_id
from services.loyalty.schemas import Referrals, referral_public
from shared.errors import Conflict, NotFound, Unprocessable
from shared.pages import decode_cursor, page_of


async def referral_code(session: AsyncSession, customer_id: str, now: datetime) -> ReferralCode:
    """The member's referral code (made on first ask)."""
    member = await repository.require_member(session, customer_id, lock=True)
    code = await repository.referral_code_of(session, member.customer_id)
    if code is None:
        code = ReferralCode(code="R" + secrets.token_hex(5).upper(), customer_id=member.customer_id, created_at=now)
        session.add(code)
    return code


async def refer(session: AsyncSession, code: str, referee_id: str, now: datetime) -> Referral:
    """Register a new customer under a code (the same again is the same referral)."""
    row = await session.get(ReferralCode, code)
    if row is None:
        raise NotFound("referral code", code)
    if row.customer_id == referee_id:
        raise Unprocessable("a customer cannot refer themselves", field="customer_id")
    existing = (await session.execute(select(Referral).where(Referral.referee_id == referee_id))).scalar_one_or_none()
    if existing is not None:
        if existing.code == code:
            return existing
        raise Conflict("this customer was already referred", field="customer_id")
    if (await session.execute(select(Booking.booking_id).where(Booking.traveller_id == referee_id).limit(1))).first():
        raise Conflict("this customer has travelled already: referrals are for new customers")
    referral = Referral(id=new_id(), referee_id=referee_id, code=code, referrer_id=row.customer_id, created_at=now)
    session.add(referral)
    return referral


async def referrals(session: AsyncSession, customer_id: str, cursor: str | None, limit: int) -> Referrals:
    """The member's code and referrals, oldest first, a page at a time."""
    after = decode_cursor(cursor, datetime, str)
    rows = await repository.referrals_of(session, customer_id, after=after, limit=limit + 1)  # type: ignore[arg-type]
    page = page_of(rows, limit, key=lambda r: (r.created_at, r.id), item=referral_public)
    code = await repository.referral_code_of(session, customer_id)
    return Referrals(items=page.items, next_cursor=page.next_cursor, customer_id=customer_id,
                     code=code.code if code else None)
