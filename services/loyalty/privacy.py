"""Loyalty's part in the data-rights protocol (shared.privacy): the tables that hold rows about a customer,
and the two rules a table list cannot say — on erasure the balance is forfeited (by an entry: the liability
report stays true) and live holds are voided; on a merge the members are folded into the survivor (points,
debt, holds, the higher tier), nothing lost and nothing doubled."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import ledger, repository
from services.loyalty.models import (
    Booking, CampaignAward, CampaignGroup, EventRegistration, KnownCustomer, LedgerEntry, Lot, Member, Notice, Offer,
    Redemption, Referral, ReferralCode, SegmentMember, Upgrade,
)
from services.loyalty.rules import effective_tier, segments_of, tier_rank
from services.loyalty.repository import local_date
from services.loyalty.tiers import announce, evaluate_tier
from shared.events import LOYALTY
from shared.privacy import PersonalData, Privacy


def _member(m: Member) -> dict[str, Any]:
    return {"member_type": m.member_type, "tier": m.tier, "points_balance": m.balance, "debt": m.debt,
            "status": m.status, "account_id": m.account_id, "merged_into": m.merged_into,
            "segments": segments_of(m), "enrolled_at": m.enrolled_at.isoformat()}


async def _lock_holds(session: AsyncSession, customer_ids: list[str]) -> None:
    """Lock the live holds of these customers before their member rows: capture and release lock a hold's
    row first and its member's last, so a use case that re-points or voids holds takes them in that order too."""
    await session.execute(select(Redemption.id).where(Redemption.customer_id.in_(customer_ids),
                                                      Redemption.status == "held")
                          .order_by(Redemption.id).with_for_update())


async def forfeit(session: AsyncSession, customer_id: str, now: datetime) -> None:
    """Before an erasure: void the live holds and forfeit the balance (an entry), forget the debt; detach the
    roster and drop emptied members merged into this one."""
    await _lock_holds(session, [customer_id])
    member = await repository.get_member(session, customer_id, lock=True)
    if member is not None:
        await session.execute(update(Redemption).where(Redemption.customer_id == customer_id,
                                                       Redemption.status == "held")
                              .values(status="released", settled_at=now))
        if member.status == "active" and member.balance > 0:
            await ledger.debit(session, member, kind="adjust", points=member.balance, cause_type="erasure",
                               cause_id=None, now=now, event=None, reason="customer erased: balance forfeited")
        member.debt, member.held, member.updated_at = 0, 0, now  # its holds were released above
        await session.flush()
    await session.execute(update(Member).where(Member.account_id == customer_id).values(account_id=None))
    await session.execute(delete(Member).where(Member.merged_into == customer_id, Member.status == "merged",
                                               Member.balance == 0))


async def fold(session: AsyncSession, surviving_id: str, merged_ids: list[str], now: datetime) -> None:
    """Before the merge's re-pointing: fold the merged members into the survivor, once (a re-sent
    customers-merged changes nothing); move the rows a plain re-point cannot (unique referral code and
    referee, bookings before the survivor's tier is evaluated); drop the merged ids' notices."""
    merged_ids = sorted({m for m in merged_ids if m != surviving_id})
    await _lock_holds(session, merged_ids)
    locked = {cid: await repository.get_member(session, cid, lock=True) for cid in sorted({surviving_id, *merged_ids})}
    survivor = locked[surviving_id]
    for merged_id in merged_ids:
        await _move_unique_rows(session, merged_id, surviving_id)
        old = locked[merged_id]
        if old is None or old.status != "active":
            continue  # merged already
        if survivor is None:
            survivor = Member(customer_id=surviving_id, member_type=old.member_type, points_to=old.points_to,
                              tier=old.tier, tier_since=old.tier_since, next_review_on=old.next_review_on,
                              enrolled_at=old.enrolled_at, account_id=old.account_id, segments=old.segments,
                              updated_at=now)
            session.add(survivor)
            await session.flush()
        _fold_member(session, survivor, old, now)
    if survivor is not None:
        await session.flush()
        await evaluate_tier(session, survivor, now)


def _fold_member(session: AsyncSession, survivor: Member, old: Member, now: datetime) -> None:
    today = local_date(session, now)
    before = effective_tier(survivor, today)
    if survivor is not old:
        survivor.balance += old.balance
        survivor.debt += old.debt
        survivor.held += old.held
        if tier_rank(old.tier) > tier_rank(survivor.tier):
            survivor.tier, survivor.tier_since = old.tier, old.tier_since
        survivor.segments = json.dumps(sorted(set(segments_of(survivor)) | set(segments_of(old))))
        survivor.updated_at = now
    old.balance, old.debt, old.held, old.status, old.merged_into, old.account_id = 0, 0, 0, "merged", survivor.customer_id, None
    old.updated_at = now
    if survivor.account_id == survivor.customer_id:
        survivor.account_id = None
    announce(survivor, before, effective_tier(survivor, today), "merge", now, session)


async def _move_unique_rows(session: AsyncSession, old: str, new: str) -> None:
    for column in (Booking.customer_id, Booking.traveller_id):
        await session.execute(update(Booking).where(column == old).values({column.key: new}))
    if await repository.referral_code_of(session, new) is not None:  # one code per customer: the survivor's stays
        await session.execute(delete(ReferralCode).where(ReferralCode.customer_id == old))
    else:
        await session.execute(update(ReferralCode).where(ReferralCode.customer_id == old).values(customer_id=new))
    if (await session.execute(select(Referral.id).where(Referral.referee_id == new))).first():
        await session.execute(delete(Referral).where(Referral.referee_id == old))
    else:
        await session.execute(update(Referral).where(Referral.referee_id == old).values(referee_id=new))
    await session.execute(delete(Notice).where(Notice.customer_id == old))
    await session.execute(update(Member).where(Member.account_id == old).values(account_id=new))


PRIVACY = Privacy("loyalty", [
    PersonalData(Member, on_erase="pseudonymise", repoint=False, section="member", view=_member,
                 personal_fields={"status": "erased", "segments": "[]", "account_id": None, "merged_into": None}),
    PersonalData(LedgerEntry, ("customer_id", "earned_by"), on_erase="pseudonymise", section="ledger"),
    PersonalData(Lot, on_erase="pseudonymise", section="lots"),
    PersonalData(Booking, ("customer_id", "traveller_id"), on_erase="pseudonymise", repoint=False, section="bookings"),
    PersonalData(Redemption, on_erase="pseudonymise", section="redemptions"),
    PersonalData(CampaignAward, on_erase="pseudonymise", section="campaign_awards"),
    PersonalData(Referral, ("referrer_id",), on_erase="pseudonymise", section="referrals"),
    PersonalData(Referral, ("referee_id",), on_erase="pseudonymise", repoint=False, section="referred_by"),
    PersonalData(ReferralCode, section="referral_code", repoint=False),
    PersonalData(Offer, on_erase="pseudonymise", section="offers"),
    PersonalData(Notice, section="notices", repoint=False),
    # a merged customer counts once in a segment campaign: the survivor's group, else the first merged id's;
    # the segment copy follows profile
    PersonalData(CampaignGroup, on_erase="pseudonymise", one_per="campaign_id", section="campaign_groups"),
    PersonalData(SegmentMember, section="segments", repoint=False),
    PersonalData(KnownCustomer, section="known_customer", repoint=False),  # customers.merged keeps it
    PersonalData(Upgrade, ("customer_id", "used_by"), on_erase="pseudonymise", section="upgrades"),
    # where both registered for the same member event, the survivor's registration stays (counted once already)
    PersonalData(EventRegistration, on_erase="pseudonymise", one_per="event_id", section="member_events"),
], topic=LOYALTY, before_erase=forfeit, before_merge=fold)
