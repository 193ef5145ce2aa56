"""Earning on booking-completed, and reversing on booking-cancelled.

One path: `earn` takes bookings in their order — a consumer batch, or a single event as a batch of one —
and goes one way: the repository reads (and locks) what they touch, `rules.plan_earnings` works out what
they earn, `ledger.record` writes it and announces it. In a consumer batch's fast pass the handler only
`stage`s the booking; `apply_staged` (SPEC.after_batch, and every other loyalty handler first) earns the
queue, so that events still take effect in their order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import customers, ledger, repository, rules
from services.loyalty.models import Booking, CampaignAward, Lot
from shared.events import BookingCancelled, BookingCompleted

STAGED = "loyalty_staged_earns"  # session.info: [(booking-completed, now)] not yet earned


def stage(session: AsyncSession, data: BookingCompleted, now: datetime) -> None:
    """Queue a booking-completed for `apply_staged`."""
    session.info.setdefault(STAGED, []).append((data, now))


async def apply_staged(session: AsyncSession) -> int:
    """Earn the queued bookings, in their order (the consumer's after_batch hook; other handlers call it first)."""
    staged = session.info.pop(STAGED, None)
    return await earn(session, staged) if staged else 0


async def earn(session: AsyncSession, items: list[tuple[BookingCompleted, datetime]]) -> int:
    """booking-completed → points, once per booking id whatever the event id. Returns the points credited.

    A booking that cannot earn (a currency without a rate) raises EarnError and nothing of the batch is written:
    the consumer redoes the batch one event at a time and parks that one. The bookings' customers become
    known to loyalty (profile's ingest validated them), in one statement."""
    knowing = customers.knowing(session, [data.customer_id for data, _ in items], items[0][1])
    found = await repository.earning(session, items, along=knowing)
    if not found.fresh:
        return 0
    plan = rules.plan_earnings(found.programme, found.version, found)
    await ledger.record(session, plan, found.members, campaigns=found.campaigns, offers=found.offers.values(),
                        referrals=[referral for referral, _, _ in found.referrals.values()])
    return plan.total


# --- session hooks (SPEC.session_hooks: on loyalty's sessions only) ------------------------------------


def refuse_unapplied(session: Session) -> None:
    """before_commit: a batch that staged bookings must have earned them (a consumer without the loyalty
    after_batch hook): refuse it; the consumer redoes it one event at a time, where bookings earn at once."""
    if session.info.get(STAGED):
        raise RuntimeError("booking-completed events staged but not applied: use SPEC.after_batch")


def forget_staged(session: Session, previous_transaction: Any) -> None:
    """after_soft_rollback: what a rolled-back savepoint or transaction staged is not to be earned."""
    session.info.pop(STAGED, None)


# --- cancellation --------------------------------------------------------------------------------


async def cancel_booking(session: AsyncSession, data: BookingCancelled, now: datetime) -> int:
    """booking-cancelled → reverse exactly what that booking earned (less what already expired).

    What the balance cannot cover (points already spent or held) becomes a debt that later earnings settle.
    Returns the points reversed now.
    """
    booking = await session.get(Booking, data.booking_id, with_for_update=True)
    if booking is None:
        # cancelled before it completed: remember, so that a late booking-completed does not earn
        session.add(Booking(booking_id=data.booking_id, customer_id=data.customer_id, traveller_id=data.customer_id,
                            status="cancelled", cancelled_at=now, created_at=now))
        return 0
    if booking.status == "cancelled":
        return 0
    booking.status, booking.cancelled_at = "cancelled", now
    account = await repository.get_member(session, booking.customer_id, lock=True)
    await session.execute(update(CampaignAward).where(CampaignAward.booking_id == data.booking_id)
                          .values(reversed=True))
    if account is None or account.status != "active":
        return 0
    target = int((await session.execute(
        select(func.coalesce(func.sum(Lot.points - Lot.expired), 0))
        .where(Lot.customer_id == account.customer_id, Lot.booking_id == data.booking_id)
    )).scalar_one())
    if target <= 0:
        return 0
    available = account.balance - await repository.held(session, account.customer_id, now)
    return await ledger.take_back(
        session, account, target, available, cause_type="booking", cause_id=data.booking_id,
        business_key=f"reverse:{data.booking_id}", booking_id=data.booking_id, now=now,
        reason=(data.reason or "booking cancelled")[:500],
        debt_note=f"{{owed}} of {target} points were already spent or held: recorded as debt, settled by future earnings",
    )
