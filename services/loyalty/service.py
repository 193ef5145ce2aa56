"""Use cases of the loyalty service. Each changes rows and adds its events to the caller's session;
the caller (an API route, a handler, a job) owns the one commit. Every use case takes an explicit
`now`, so tests drive time without sleeping.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import bindparam, case, func, insert, or_, select, text, update
from sqlalchemy.orm import Session as SyncSession
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import ledger as L
from services.loyalty.ledger import aware, emit, local_date
from services.loyalty.models import (
    Booking, Campaign, CampaignAward, LedgerEntry, Lot, Member, Notice, Offer, ProgrammeVersion, Redemption,
    Referral, ReferralCode, Reward,
)
from services.loyalty.programme import TIERS, Programme, add_months, floor_int, tier_rank
from shared import outbox
from shared.errors import Conflict, NotFound, Unprocessable
from shared.lane import Lane
from shared.events import (
    LOYALTY, new_event,
    BookingCancelled, BookingCompleted, ComplaintReopened, ComplaintResolved, CustomerAtRisk, CustomerDataErased,
    CustomerErased, CustomersMerged, FeedbackSubmitted, MemberEnrolled, PointsEarned, PointsExpired, PointsExpiring,
    PointsRedeemed, PointsReversed, RewardRedeemed, TierChanged, TierDowngradeWarning,
)

log = logging.getLogger(__name__)
CENT = Decimal("0.01")


class EarnError(ValueError):
    """A booking that cannot earn as it stands (e.g. a currency without a rate): dead-lettered, replayable."""


# --- members ---------------------------------------------------------------------------------------


async def enrol(
    session: AsyncSession, customer_id: str, now: datetime, *, member_type: str = "individual",
    points_to: str = "account", roster: list[str] | None = None,
) -> tuple[Member, bool]:
    """Enrol a customer (and a family's or enterprise's roster); returns (member, created)."""
    existing = await L.get_member(session, customer_id, lock=True)
    if existing is not None:
        if existing.status == "merged":
            surviving = await L.resolve(session, customer_id)
            if surviving is not None:
                return surviving, False
        if existing.status == "active":
            if roster:
                await add_to_roster(session, existing, roster, now)
            return existing, False
    today = local_date(session, now)
    member = Member(
        customer_id=customer_id, member_type=member_type, points_to=points_to, tier="regular", tier_since=now,
        next_review_on=L.next_anniversary(today, today), enrolled_at=now, updated_at=now,
    )
    session.add(member)
    await session.flush()
    emit(session, MemberEnrolled(customer_id=customer_id, member_type=member_type, tier="regular", enrolled_at=now),
         customer_id)
    if roster:
        await add_to_roster(session, member, roster, now)
    return member, True


async def add_to_roster(session: AsyncSession, head: Member, roster: list[str], now: datetime) -> None:
    if head.member_type == "individual":
        raise Unprocessable("only family and enterprise members have a roster", field="members")
    for customer_id in roster:
        if customer_id == head.customer_id:
            continue
        member = await L.resolve(session, customer_id, lock=True)
        if member is None:
            member, _ = await enrol(session, customer_id, now)
        if member.account_id not in (None, head.customer_id):
            raise Conflict(f"customer {customer_id} already belongs to account {member.account_id}")
        if member.member_type != "individual":
            raise Unprocessable(f"{customer_id} is itself a {member.member_type} account", field="members")
        member.account_id = head.customer_id
        member.updated_at = now


async def require_member(session: AsyncSession, customer_id: str, *, lock: bool = False) -> Member:
    member = await L.resolve(session, customer_id, lock=lock)
    if member is None:
        raise NotFound("member", customer_id)
    return member


# --- tiers -----------------------------------------------------------------------------------------


async def qualification(session: AsyncSession, account_id: str, prog: Programme, now: datetime) -> dict[str, Any]:
    since = now - timedelta(days=round(prog.window_months * 30.44))
    points, spend, trips = (await session.execute(
        select(func.coalesce(func.sum(Booking.qualifying), 0), func.coalesce(func.sum(Booking.spend), 0), func.count())
        .where(Booking.customer_id == account_id, Booking.status == "completed", Booking.completed_at >= since)
    )).one()
    return {"points": int(points), "spend": Decimal(spend), "trips": int(trips)}


def qualified_tier(prog: Programme, stats: dict[str, Any]) -> str:
    best = "regular"
    for rule in prog.tiers[1:]:
        if ((rule.qualifying_points is not None and stats["points"] >= rule.qualifying_points)
                or (rule.spend is not None and stats["spend"] >= rule.spend)
                or (rule.trips is not None and stats["trips"] >= rule.trips)):
            best = rule.name
    return best


def _tier_changed(session: AsyncSession, member: Member, old: str, new: str, reason: str, now: datetime) -> None:
    if old != new:
        emit(session, TierChanged(customer_id=member.customer_id, old_tier=old, new_tier=new, reason=reason,
                                  changed_at=now), member.customer_id)


async def evaluate_tier(session: AsyncSession, member: Member, prog: Programme, now: datetime) -> None:
    """On every ledger change: upgrade at once when the member qualifies for a higher tier."""
    today = local_date(session, now)
    qualified = qualified_tier(prog, await qualification(session, member.customer_id, prog, now))
    if tier_rank(qualified) > tier_rank(member.tier):
        before = L.effective_tier(member, today)
        member.tier, member.tier_since = qualified, now
        _tier_changed(session, member, before, L.effective_tier(member, today), "upgrade", now)


def _in_grace(session: AsyncSession, member: Member, prog: Programme, review_on: date) -> bool:
    return add_months(local_date(session, member.tier_since), prog.grace_months) > review_on


async def review_tiers(session: AsyncSession, now: datetime, *, limit: int = 1000) -> int:
    """Daily: anniversary reviews (one tier down at most, grace period) and ended overrides."""
    prog = (await L.programme(session))[1]
    today = local_date(session, now)
    changed = 0
    ids = list((await session.execute(
        select(Member.customer_id).where(Member.status == "active", Member.next_review_on <= today).limit(limit)
    )).scalars())
    ids += list((await session.execute(
        select(Member.customer_id).where(Member.status == "active", Member.tier_override_until < today).limit(limit)
    )).scalars())
    for customer_id in sorted(set(ids)):
        member = await L.get_member(session, customer_id, lock=True)
        if member is None:
            continue
        before = L.effective_tier(member, today)
        if member.tier_override_until is not None and member.tier_override_until < today:
            member.tier_override, member.tier_override_until = None, None
        if member.next_review_on <= today:
            qualified = qualified_tier(prog, await qualification(session, customer_id, prog, now))
            rank = tier_rank(member.tier)
            if tier_rank(qualified) > rank:
                member.tier, member.tier_since = qualified, now
            elif tier_rank(qualified) < rank and not _in_grace(session, member, prog, member.next_review_on):
                member.tier, member.tier_since = TIERS[max(tier_rank(qualified), rank - 1)], now
            while member.next_review_on <= today:
                member.next_review_on = add_months(member.next_review_on, 12)
        after = L.effective_tier(member, today)
        if after != before:
            changed += 1
            _tier_changed(session, member, before, after, "review", now)
        member.updated_at = now
    return changed


async def override_tier(session: AsyncSession, customer_id: str, tier: str, until: date, reason: str, actor: str,
                        now: datetime) -> Member:
    member = await require_member(session, customer_id, lock=True)
    today = local_date(session, now)
    if until < today:
        raise Unprocessable("the override must end today or later", field="until")
    before = L.effective_tier(member, today)
    member.tier_override, member.tier_override_until, member.updated_at = tier, until, now
    _tier_changed(session, member, before, tier, f"override by {actor}: {reason}"[:300], now)
    return member


# --- earning ---------------------------------------------------------------------------------------


def _earned_event(session: AsyncSession, member: Member, entry: LedgerEntry, kind: str) -> None:
    if entry.points > 0:
        emit(session, PointsEarned(customer_id=member.customer_id, points=entry.points, balance=member.balance,
                                   entry_id=str(entry.id), cause=entry.cause_id, kind=kind), member.customer_id)
    else:
        emit(session, PointsReversed(customer_id=member.customer_id, points=entry.points, balance=member.balance,
                                     entry_id=str(entry.id), cause=entry.cause_id), member.customer_id)


async def _credit_and_announce(session: AsyncSession, member: Member, prog: Programme, *, event_kind: str,
                               **kwargs: Any) -> list[LedgerEntry]:
    entries = await L.credit(session, member, prog, **kwargs)
    for entry in entries:
        _earned_event(session, member, entry, event_kind)
    return entries


def _campaign_matches(campaign: Campaign, tier: str, segments: list[str], product: Any, day: date) -> bool:
    if campaign.starts_on and day < campaign.starts_on or campaign.ends_on and day > campaign.ends_on:
        return False
    tiers, segs = json.loads(campaign.tiers), json.loads(campaign.segments)
    tags, dests = json.loads(campaign.tags), json.loads(campaign.destinations)
    return ((not tiers or tier in tiers) and (not segs or bool(set(segs) & set(segments)))
            and (not tags or bool(set(tags) & set(product.tags)))
            and (not dests or product.destination in dests))


async def _active_campaigns(session: AsyncSession) -> list[Campaign]:
    """Active campaigns, locked (their budgets move); read once per transaction."""
    if "loyalty_campaigns" not in session.info:
        session.info["loyalty_campaigns"] = list((await session.execute(
            select(Campaign).where(Campaign.status == "active").order_by(Campaign.id).with_for_update()
        )).scalars())
    return [c for c in session.info["loyalty_campaigns"] if c.status == "active"]


async def _pending_extras(session: AsyncSession) -> dict[str, bool]:
    """Whether any open win-back offer or pending referral exists at all; read once per transaction."""
    if "loyalty_pending" not in session.info:
        offers = (await session.execute(select(Offer.id).where(Offer.status == "open").limit(1))).first() is not None
        referrals = (await session.execute(select(Referral.id).where(Referral.status == "pending").limit(1))).first()
        session.info["loyalty_pending"] = {"offers": offers, "referrals": referrals is not None}
    return session.info["loyalty_pending"]


def _rate(prog: Programme, data: BookingCompleted) -> Decimal:
    rate = prog.rates.get(data.currency)
    if rate is None:
        raise EarnError(f"no earn rate for currency {data.currency}; add it to the programme and replay")
    return rate


def _booking_points(prog: Programme, tier: str, data: BookingCompleted) -> tuple[Decimal, int, int]:
    """(spend in the programme currency, qualifying base points, points earned) of a booking at a tier."""
    spend = (data.amount * _rate(prog, data)).quantize(CENT)
    base = floor_int(spend * prog.points_per_unit)
    earned = floor_int(base * prog.tier(tier).multiplier)
    product = data.product
    for rule in prog.bonuses:
        hit = (rule.match == "kind" and product.kind == rule.value or rule.match == "tag" and rule.value in product.tags
               or rule.match == "destination" and product.destination == rule.value)
        if hit:
            earned += rule.points + floor_int(base * (rule.multiplier - 1))
    if prog.max_points_per_booking is not None:
        earned = min(earned, prog.max_points_per_booking)
    return spend, base, earned


def _campaign_extra(prog: Programme, campaign: Campaign, tier: str, base: int) -> int:
    if campaign.kind == "multiplier":
        extra = floor_int(floor_int(base * prog.tier(tier).multiplier) * ((campaign.multiplier or 1) - 1))
    else:
        extra = campaign.bonus_points or 0
    if campaign.budget is not None:
        extra = min(extra, campaign.budget - campaign.issued)
    return extra


async def earn_booking(session: AsyncSession, data: BookingCompleted, now: datetime) -> int:
    """booking-completed → points, once per booking id whatever the event id. Returns points credited."""
    return await earn_bookings(session, [(data, now)])


async def _earn_one(session: AsyncSession, data: BookingCompleted, now: datetime) -> int:
    """The general path, one booking at a time: family and enterprise accounts, debts, referrals, win-back offers."""
    if await session.get(Booking, data.booking_id) is not None:
        return 0  # earned (or cancelled) already: a retried booking-completed changes nothing
    version, prog = await L.programme(session)
    traveller = await L.resolve(session, data.customer_id, lock=True)
    if traveller is None:
        traveller, _ = await enrol(session, data.customer_id, now)
    account = await L.account_of(session, traveller, lock=True) if traveller.account_id else traveller  # locked above
    _rate(prog, data)
    completed_at = aware(data.completed_at)
    day = local_date(session, completed_at)
    tier = L.effective_tier(account, local_date(session, now))
    spend, base, earned = _booking_points(prog, tier, data)
    pending = await _pending_extras(session)
    first_trip = pending["referrals"] and (await session.execute(
        select(Booking.booking_id).where(Booking.traveller_id == traveller.customer_id).limit(1)
    )).first() is None
    booking = Booking(
        booking_id=data.booking_id, customer_id=account.customer_id, traveller_id=traveller.customer_id,
        status="completed", amount=data.amount, currency=data.currency, spend=spend, earned=0, qualifying=base,
        completed_at=completed_at, created_at=now,
    )
    session.add(booking)
    await session.flush()
    common = dict(earned_at=completed_at, booking_id=data.booking_id, earned_by=traveller.customer_id, now=now)
    total = 0
    if earned > 0:
        await _credit_and_announce(
            session, account, prog, event_kind="earn", kind="earn", points=earned, cause_type="booking",
            cause_id=data.booking_id, business_key=f"earn:{data.booking_id}",
            reason=f"{tier} ×{prog.tier(tier).multiplier}, programme v{version}", **common,
        )
        total += earned
    # campaigns: multipliers on the tier-adjusted base, or fixed bonuses, within each one's budget
    campaigns = await _active_campaigns(session)
    segments = L.segments_of(account)
    for campaign in campaigns:
        if not _campaign_matches(campaign, tier, segments, data.product, day):
            continue
        extra = _campaign_extra(prog, campaign, tier, base)
        session.add(CampaignAward(campaign_id=campaign.id, booking_id=data.booking_id, customer_id=account.customer_id,
                                  points=max(extra, 0), revenue=spend, created_at=now))
        if extra > 0:
            campaign.issued += extra
            await _credit_and_announce(
                session, account, prog, event_kind="bonus", kind="bonus", points=extra, cause_type="campaign",
                cause_id=campaign.id, business_key=f"campaign:{campaign.id}:{data.booking_id}",
                reason=f"campaign {campaign.name}"[:500], **common,
            )
            total += extra
        if campaign.budget is not None and campaign.issued >= campaign.budget:
            campaign.status = "exhausted"
    # win-back offer
    offer = pending["offers"] and (await session.execute(
        select(Offer).where(Offer.customer_id == traveller.customer_id, Offer.status == "open", Offer.expires_at > now)
        .limit(1)
    )).scalar_one_or_none()
    if offer:
        offer.status, offer.booking_id = "used", data.booking_id
        if offer.points > 0:
            await _credit_and_announce(
                session, account, prog, event_kind="bonus", kind="bonus", points=offer.points, cause_type="winback",
                cause_id=data.booking_id, business_key=f"winback:{offer.id}", reason="win-back offer", **common,
            )
            total += offer.points
    booking.earned = total
    # referral: the referrer's bonus on the referee's first trip
    if first_trip:
        referral = (await session.execute(
            select(Referral).where(Referral.referee_id == traveller.customer_id, Referral.status == "pending")
            .with_for_update()
        )).scalar_one_or_none()
        if referral is not None:
            referrer = await L.resolve(session, referral.referrer_id)
            referral.status, referral.booking_id, referral.awarded_at = "awarded", data.booking_id, now
            if referrer is not None and prog.referral_bonus > 0:
                referrer_account = await L.account_of(session, referrer, lock=True)
                await _credit_and_announce(
                    session, referrer_account, prog, event_kind="referral", kind="bonus", points=prog.referral_bonus,
                    cause_type="referral", cause_id=referral.id, business_key=f"referral:{referral.id}",
                    earned_by=referrer.customer_id, now=now, reason="referral: the referee completed a first trip",
                )
                await evaluate_tier(session, referrer_account, prog, now)
    await evaluate_tier(session, account, prog, now)
    return total


# --- earning a consumer batch at once --------------------------------------------------------------

STAGED = "loyalty_staged_earns"


async def stage_earn(session: AsyncSession, data: BookingCompleted, now: datetime) -> None:
    """Queue a booking-completed for `apply_staged` (the consumer's after_batch hook, or the next other event).

    A booking that cannot earn (a currency without a rate) raises here, so the consumer parks that event.
    """
    _rate((await L.programme(session))[1], data)
    session.info.setdefault(STAGED, []).append((data, now))


async def apply_staged(session: AsyncSession) -> int:
    """Apply the queued booking-completed events, in their order; every other loyalty event calls this first."""
    staged = session.info.pop(STAGED, None)
    return await earn_bookings(session, staged) if staged else 0


@sa_event.listens_for(SyncSession, "before_commit")
def _nothing_staged_left(session: SyncSession) -> None:
    if session.info.get(STAGED):
        # a consumer without the loyalty after_batch hook: refuse the batch; the consumer redoes it one
        # event at a time (each in a savepoint, where booking-completed earns at once)
        raise RuntimeError("booking-completed events staged but not applied: use SPEC.after_batch")


@sa_event.listens_for(SyncSession, "after_soft_rollback")
def _forget_batch_caches(session: SyncSession, previous_transaction: Any) -> None:
    # rows read (and locked) in a rolled-back savepoint or transaction are not to be trusted any more
    for name in (STAGED, "loyalty_programme", "loyalty_campaigns", "loyalty_pending"):
        session.info.pop(name, None)


async def earn_bookings(session: AsyncSession, items: list[tuple[BookingCompleted, datetime]]) -> int:
    """booking-completed for many bookings in one pass, in their order, with what one at a time would write.

    A handful of statements for the whole list: which bookings are known, the members locked in one
    `SELECT … FOR UPDATE` (ordered by id: no deadlock between batches), their qualification in one
    aggregate, then multi-row INSERTs of bookings, entries, lots and awards. Individual members without
    debt are done here; family/enterprise accounts, debts, referrals and win-back offers take `_earn_one`.
    Returns the points credited.
    """
    if not items:
        return 0
    version, prog = await L.programme(session)
    ids = {data.booking_id for data, _ in items}
    known = set((await session.execute(select(Booking.booking_id).where(Booking.booking_id.in_(ids)))).scalars())
    fresh: list[tuple[BookingCompleted, datetime]] = []
    for data, now in items:
        if data.booking_id not in known:  # earned or cancelled already, or twice in this list
            known.add(data.booking_id)
            fresh.append((data, now))
    if not fresh:
        return 0
    for data, _ in fresh:
        _rate(prog, data)
    customers = sorted({data.customer_id for data, _ in fresh})
    members: dict[str, Member] = {m.customer_id: m for m in (await session.execute(
        select(Member).where(Member.customer_id.in_(customers)).order_by(Member.customer_id).with_for_update()
        .execution_options(populate_existing=True)
    )).scalars()}
    general: set[str] = {cid for cid, m in members.items()
                         if m.status != "active" or m.debt > 0 or (m.account_id and m.account_id != cid)}
    pending = await _pending_extras(session)
    if pending["offers"]:
        general |= set((await session.execute(select(Offer.customer_id).where(
            Offer.customer_id.in_(customers), Offer.status == "open", Offer.expires_at > fresh[0][1]))).scalars())
    if pending["referrals"]:
        general |= set((await session.execute(select(Referral.referee_id).where(
            Referral.referee_id.in_(customers), Referral.status == "pending"))).scalars())
    since = fresh[0][1] - timedelta(days=round(prog.window_months * 30.44))
    stats: dict[str, dict[str, Any]] = {cid: {"points": 0, "spend": Decimal(0), "trips": 0} for cid in customers}
    for cid, points, spend, trips in (await session.execute(
        select(Booking.customer_id, func.sum(Booking.qualifying), func.sum(Booking.spend), func.count())
        .where(Booking.customer_id.in_(customers), Booking.status == "completed", Booking.completed_at >= since)
        .group_by(Booking.customer_id)
    )).all():
        stats[cid] = {"points": int(points or 0), "spend": Decimal(spend or 0), "trips": int(trips)}
    campaigns = await _active_campaigns(session)

    total = 0
    run = _Run()
    for data, now in fresh:
        cid = data.customer_id
        if cid in general:
            await run.write(session)
            total += await _earn_one(session, data, now)
            stats.pop(cid, None)  # the general path evaluated the tier from the database
            continue
        account = members.get(cid)
        if account is None:
            today = local_date(session, now)
            account = members[cid] = Member(
                customer_id=cid, member_type="individual", points_to="account", tier="regular", tier_since=now,
                next_review_on=L.next_anniversary(today, today), enrolled_at=now, updated_at=now,
            )
            session.add(account)
            run.events.append(MemberEnrolled(customer_id=cid, member_type="individual", tier="regular",
                                             enrolled_at=now))
        completed_at = aware(data.completed_at)
        day = local_date(session, completed_at)
        tier = L.effective_tier(account, local_date(session, now))
        spend, base, earned = _booking_points(prog, tier, data)
        lot = dict(customer_id=cid, booking_id=data.booking_id, earned_at=completed_at,
                   expires_on=add_months(local_date(session, completed_at), prog.expiry_months), expired=0)
        entry = dict(customer_id=cid, earned_by=cid, kind="earn", cause_type="booking", actor=None, note=None,
                     created_at=now)
        booked = 0
        if earned > 0:
            run.credit(account, {**entry, "points": earned, "cause_id": data.booking_id,
                                 "business_key": f"earn:{data.booking_id}",
                                 "reason": f"{tier} ×{prog.tier(tier).multiplier}, programme v{version}"},
                       lot, "earn", now)
            booked += earned
        segments = L.segments_of(account)
        for campaign in campaigns:
            if campaign.status != "active" or not _campaign_matches(campaign, tier, segments, data.product, day):
                continue
            extra = _campaign_extra(prog, campaign, tier, base)
            run.awards.append(dict(campaign_id=campaign.id, booking_id=data.booking_id, customer_id=cid,
                                   points=max(extra, 0), revenue=spend, reversed=False, created_at=now))
            if extra > 0:
                campaign.issued += extra
                run.credit(account, {**entry, "kind": "bonus", "points": extra, "cause_type": "campaign",
                                     "cause_id": campaign.id, "business_key": f"campaign:{campaign.id}:{data.booking_id}",
                                     "reason": f"campaign {campaign.name}"[:500]}, lot, "bonus", now)
                booked += extra
            if campaign.budget is not None and campaign.issued >= campaign.budget:
                campaign.status = "exhausted"
        run.bookings.append(dict(
            booking_id=data.booking_id, customer_id=cid, traveller_id=cid, status="completed", amount=data.amount,
            currency=data.currency, spend=spend, earned=booked, qualifying=base, completed_at=completed_at,
            cancelled_at=None, created_at=now,
        ))
        total += booked
        # tiers: upgrade at once when the member qualifies (the daily review does downgrades)
        if cid not in stats:
            await run.write(session)
            stats[cid] = await qualification(session, cid, prog, now)
        elif completed_at >= since:
            mine = stats[cid]
            mine["points"] += base
            mine["spend"] += spend
            mine["trips"] += 1
        qualified = qualified_tier(prog, stats[cid])
        if tier_rank(qualified) > tier_rank(account.tier):
            today = local_date(session, now)
            before = L.effective_tier(account, today)
            account.tier, account.tier_since = qualified, now
            after = L.effective_tier(account, today)
            if after != before:
                run.events.append(TierChanged(customer_id=cid, old_tier=before, new_tier=after, reason="upgrade",
                                              changed_at=now))
    await run.write(session)
    return total


class _Run:
    """Rows and events of a run of simple earnings, written with one multi-row INSERT per table."""

    def __init__(self) -> None:
        self.bookings: list[dict[str, Any]] = []
        self.entries: list[dict[str, Any]] = []
        self.lots: list[dict[str, Any]] = []
        self.awards: list[dict[str, Any]] = []
        self.events: list[Any] = []  # event data, or (entry index, event kind, balance) for points-earned

    def credit(self, member: Member, entry: dict[str, Any], lot: dict[str, Any], event_kind: str,
               now: datetime) -> None:
        points = entry["points"]
        member.balance += points
        member.updated_at = now
        self.lots.append({**lot, "points": points, "remaining": points})
        self.events.append((len(self.entries), event_kind, member.balance))
        self.entries.append(entry)

    async def write(self, session: AsyncSession) -> None:
        if self.entries:
            # table-level (Core) multi-row INSERTs: no ORM bulk-persistence bookkeeping per row
            entries = LedgerEntry.__table__
            ids = list((await session.execute(
                insert(entries).returning(entries.c.id, sort_by_parameter_order=True), self.entries
            )).scalars())
            for lot, entry_id in zip(self.lots, ids, strict=True):
                lot["entry_id"] = entry_id
            await session.execute(insert(Lot.__table__), self.lots)
        else:
            ids = []
        if self.bookings:
            await session.execute(insert(Booking.__table__), self.bookings)
        if self.awards:
            await session.execute(insert(CampaignAward.__table__), self.awards)
        for item in self.events:
            if isinstance(item, tuple):
                index, kind, balance = item
                entry = self.entries[index]
                item = PointsEarned(customer_id=entry["customer_id"], points=entry["points"], balance=balance,
                                    entry_id=str(ids[index]), cause=entry["cause_id"], kind=kind)
            emit(session, item, item.customer_id)
        self.__init__()


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
    account = await L.get_member(session, booking.customer_id, lock=True)
    await session.execute(update(CampaignAward).where(CampaignAward.booking_id == data.booking_id)
                          .values(reversed=True))
    if account is None or account.status != "active":
        return 0
    lots = (await session.execute(
        select(func.coalesce(func.sum(Lot.points - Lot.expired), 0))
        .where(Lot.customer_id == account.customer_id, Lot.booking_id == data.booking_id)
    )).scalar_one()
    target = int(lots)
    if target <= 0:
        return 0
    available = account.balance - await L.held(session, account.customer_id, now)
    take = max(0, min(target, available))
    owed = target - take
    note = None
    if owed:
        account.debt += owed
        note = f"{owed} of {target} points were already spent or held: recorded as debt, settled by future earnings"
    if take:
        entry = await L.debit(session, account, kind="reverse", points=take, cause_type="booking",
                              cause_id=data.booking_id, business_key=f"reverse:{data.booking_id}",
                              booking_id=data.booking_id, now=now, reason=(data.reason or "booking cancelled")[:500],
                              note=note)
        _earned_event(session, account, entry, "earn")
    else:  # nothing can be taken now: a zero-point entry tells the statement about the debt
        await L.write_entry(session, account, kind="reverse", points=0, cause_type="booking", cause_id=data.booking_id,
                            business_key=f"reverse:{data.booking_id}", now=now,
                            reason=(data.reason or "booking cancelled")[:500], note=note)
    return take


# --- goodwill, surveys, referrals, win-back --------------------------------------------------------


async def goodwill(session: AsyncSession, data: ComplaintResolved, now: datetime) -> int:
    if data.compensation_points <= 0 or await L.entry_exists(session, f"goodwill:{data.complaint_id}"):
        return 0
    member = await L.resolve(session, data.customer_id, lock=True)
    if member is None:
        member, _ = await enrol(session, data.customer_id, now)
    account = await L.account_of(session, member, lock=True)
    prog = (await L.programme(session))[1]
    await _credit_and_announce(
        session, account, prog, event_kind="goodwill", kind="goodwill", points=data.compensation_points,
        cause_type="complaint", cause_id=data.complaint_id, business_key=f"goodwill:{data.complaint_id}",
        earned_by=member.customer_id, now=now, reason=f"compensation for complaint ({data.category})"[:500],
    )
    return data.compensation_points


async def withdraw_goodwill(session: AsyncSession, data: ComplaintReopened, now: datetime) -> int:
    if not data.compensation_withdrawn:
        return 0
    credited = (await session.execute(
        select(LedgerEntry).where(LedgerEntry.business_key == f"goodwill:{data.complaint_id}")
    )).scalar_one_or_none()
    if credited is None or await L.entry_exists(session, f"goodwill-withdrawn:{data.complaint_id}"):
        return 0
    account = await L.get_member(session, credited.customer_id, lock=True)
    if account is None or account.status != "active":
        return 0
    available = account.balance - await L.held(session, account.customer_id, now)
    take = max(0, min(credited.points, available))
    owed = credited.points - take
    if owed:
        account.debt += owed
    if take:
        entry = await L.debit(
            session, account, kind="reverse", points=take, cause_type="complaint", cause_id=data.complaint_id,
            business_key=f"goodwill-withdrawn:{data.complaint_id}", now=now,
            reason="complaint reopened, compensation withdrawn",
            note=f"{owed} points recorded as debt" if owed else None,
        )
        _earned_event(session, account, entry, "goodwill")
    elif owed:
        await L.write_entry(session, account, kind="reverse", points=0, cause_type="complaint",
                            cause_id=data.complaint_id, business_key=f"goodwill-withdrawn:{data.complaint_id}", now=now,
                            reason="complaint reopened, compensation withdrawn", note=f"{owed} points recorded as debt")
    return take


async def survey_bonus(session: AsyncSession, data: FeedbackSubmitted, now: datetime) -> int:
    key = f"survey:{data.survey_id}"
    member = await L.resolve(session, data.customer_id, lock=True)
    if member is None or await L.entry_exists(session, key):
        return 0
    version, prog = await L.programme(session)
    if prog.survey_bonus <= 0:
        return 0
    account = await L.account_of(session, member, lock=True)
    await _credit_and_announce(
        session, account, prog, event_kind="survey", kind="bonus", points=prog.survey_bonus, cause_type="survey",
        cause_id=data.survey_id, business_key=key, earned_by=member.customer_id, now=now, reason="survey bonus",
    )
    return prog.survey_bonus


async def winback_offer(session: AsyncSession, data: CustomerAtRisk, now: datetime) -> Offer | None:
    member = await L.resolve(session, data.customer_id, lock=True)
    if member is None:
        return None
    segments = set(L.segments_of(member)) | {"at-risk"}
    member.segments = json.dumps(sorted(segments))
    existing = (await session.execute(
        select(Offer).where(Offer.customer_id == member.customer_id, Offer.status == "open", Offer.expires_at > now)
    )).scalar_one_or_none()
    if existing is not None:
        return existing
    prog = (await L.programme(session))[1]
    offer = Offer(id=str(uuid.uuid4()), customer_id=member.customer_id, kind="win-back", points=prog.winback_bonus,
                  expires_at=now + timedelta(days=prog.winback_days), created_at=now)
    session.add(offer)
    session.info.pop("loyalty_pending", None)
    return offer


async def referral_code(session: AsyncSession, customer_id: str, now: datetime) -> ReferralCode:
    member = await require_member(session, customer_id, lock=True)
    code = (await session.execute(
        select(ReferralCode).where(ReferralCode.customer_id == member.customer_id)
    )).scalar_one_or_none()
    if code is None:
        code = ReferralCode(code="R" + secrets.token_hex(5).upper(), customer_id=member.customer_id, created_at=now)
        session.add(code)
    return code


async def refer(session: AsyncSession, code: str, referee_id: str, now: datetime) -> Referral:
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
    referral = Referral(id=str(uuid.uuid4()), referee_id=referee_id, code=code, referrer_id=row.customer_id,
                        created_at=now)
    session.add(referral)
    session.info.pop("loyalty_pending", None)
    return referral


# --- redemption ------------------------------------------------------------------------------------


async def create_hold(
    session: AsyncSession, customer_id: str, now: datetime, *, points: int | None, reward_id: str | None,
    booking_id: str | None,
) -> Redemption:
    """Reserve points at checkout, the general path (rewards, family and enterprise accounts, a short balance
    that expired holds may free). The account row is locked, so concurrent holds can never overdraw."""
    prog = (await L.programme(session))[1]
    member = await require_member(session, customer_id)
    account = await L.account_of(session, member, lock=True)
    cash_value = None
    if reward_id is not None:
        reward = await session.get(Reward, reward_id, with_for_update=True, populate_existing=True)
        if reward is None or not reward.active:
            raise Unprocessable(f"unknown or inactive reward {reward_id}", field="reward_id")
        cost = reward.points
        if reward.stock is not None and reward.stock <= 0:
            raise Conflict(f"reward {reward_id} is out of stock", code="out_of_stock")
        if reward.per_member_limit is not None:
            taken = (await session.execute(
                select(func.count()).where(
                    Redemption.customer_id == account.customer_id, Redemption.reward_id == reward_id,
                    (Redemption.status == "captured") | ((Redemption.status == "held") & (Redemption.expires_at > now)),
                )
            )).scalar_one()
            if taken >= reward.per_member_limit:
                raise Conflict(f"the limit of {reward.per_member_limit} per member is reached", code="limit_reached")
        kind = reward.kind
    else:
        assert points is not None
        cost = points
        cash_value = prog.cash_value(points)
        kind = "cash"
        reward = None
    if cost > account.balance - account.held:
        await _sweep_expired_holds(session, account, now)  # expired holds count in `held` until swept
    available = account.balance - account.held
    if cost > available:
        raise Conflict(f"insufficient points: {cost} asked, {available} available", code="insufficient_points",
                       available=available)
    if reward is not None and reward.stock is not None:
        reward.stock -= 1
    account.held += cost
    account.updated_at = now
    redemption = Redemption(
        id=str(uuid.uuid4()), customer_id=account.customer_id, kind=kind, points=cost, reward_id=reward_id,
        booking_id=booking_id, cash_value=cash_value, currency=prog.currency if cash_value is not None else None,
        status="held", expires_at=now + timedelta(minutes=prog.hold_minutes), created_at=now,
    )
    session.add(redemption)
    await session.flush()
    return redemption



class NotFast(Exception):  # noqa: N818 - a signal, not a failure
    """The fast lane does not apply (another account pays, or the points look short): take the general path."""


async def fast_cash_hold(
    tx: Lane, customer_id: str, now: datetime, *, points: int, booking_id: str | None,
    claim: Callable[[SimpleNamespace], Awaitable[None]] | None = None,
) -> SimpleNamespace:
    """Points-as-cash for a member who is their own account, in the fast lane: `claim(hold)` (the caller's
    Idempotency-Key, stored with its answer), the hold's row, then one conditional
    `UPDATE … SET held = held + points WHERE balance - held >= points` that takes the member's lock
    last, so that only COMMIT follows it. Raises NotFast when that matched no row: the caller rolls
    back and runs `create_hold`, which decides (and words a refusal)."""
    current = await tx.row(L.CURRENT)
    prog = L.parse_programme(current["config"] if current else None)
    hold = SimpleNamespace(
        id=str(uuid.uuid4()), customer_id=customer_id, kind="cash", points=points, reward_id=None,
        booking_id=booking_id, cash_value=prog.cash_value(points),
        currency=prog.currency, status="held", expires_at=now + timedelta(minutes=prog.hold_minutes), created_at=now,
        settled_at=None, entry_id=None,
    )
    if claim is not None:
        await claim(hold)
    await tx.run(_statement(("hold",), lambda: insert(_R)), vars(hold))
    if await tx.row(_statement(("take",), _take_statement), {"c": customer_id, "p": points, "now": now}) is None:
        raise NotFast
    return hold


def _take_statement() -> Any:
    points = bindparam("p", type_=_M.c.held.type)
    return (update(_M).where(_M.c.customer_id == bindparam("c"), _M.c.status == "active",
                             or_(_M.c.account_id.is_(None), _M.c.account_id == _M.c.customer_id),
                             _M.c.balance - _M.c.held >= points)
            .values(held=_M.c.held + points, updated_at=_NOW).returning(_M.c.customer_id))


async def _sweep_expired_holds(session: AsyncSession, account: Member, now: datetime) -> None:
    """Expire the (locked) account's holds whose time is up, releasing what they reserved.

    SKIP LOCKED: a hold whose row a concurrent capture or release has claimed (redemption row first,
    member row last) is settled by that transaction; waiting for it here, under the member lock, would deadlock."""
    rows = list((await session.execute(
        select(Redemption).where(Redemption.customer_id == account.customer_id, Redemption.status == "held",
                                 Redemption.expires_at <= now).with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )).scalars())
    for redemption in rows:
        redemption.status, redemption.settled_at = "expired", now
        account.held -= redemption.points
        await _restock(session, redemption.reward_id)


# The statements of the hot paths (hold, capture, release) are built once, with bind parameters, and run in
# the fast lane (shared.lane): building and executing them through the ORM costs more CPU than the database.
_R, _M, _E, _LOT, _REWARD = Redemption.__table__, Member.__table__, LedgerEntry.__table__, Lot.__table__, Reward.__table__
_NOW = bindparam("now", type_=_R.c.expires_at.type)
_STATEMENTS: dict[tuple[str, ...], Any] = {}


def _statement(key: tuple[str, ...], build: Any) -> Any:
    found = _STATEMENTS.get(key)
    if found is None:
        found = _STATEMENTS[key] = build()
    return found


def _entry_id_sql(dialect: str) -> Any:
    """The id of a new ledger entry, computed in the statement that claims the hold (no extra round trip).

    PostgreSQL: the entries' own sequence. SQLite: max + 1, safe because a writer holds the database lock
    from BEGIN IMMEDIATE (entries are never deleted, and the table has no AUTOINCREMENT)."""
    if dialect == "postgresql":
        return text("nextval('loyalty_entry_id_seq')")
    return select(func.coalesce(func.max(_E.c.id), 0) + 1).scalar_subquery()


def _claim_statement(dialect: str, status: str) -> Any:
    where = [_R.c.id == bindparam("rid"), _R.c.status == "held"]
    values: dict[str, Any] = {"status": status, "settled_at": _NOW}
    if status == "captured":
        where.append(_R.c.expires_at > _NOW)
        values["entry_id"] = _entry_id_sql(dialect)
    return update(_R).where(*where).values(**values).returning(*_R.c)


async def _claim(tx: Lane, redemption_id: str, now: datetime, status: str) -> SimpleNamespace | None:
    """Move a live hold to `status` with one conditional UPDATE (the redemption's row lock, not the member's).

    None when the hold is not (or no longer) held: the caller answers by its state."""
    statement = _statement(("claim", tx.dialect, status), lambda: _claim_statement(tx.dialect, status))
    row = await tx.row(statement, {"rid": redemption_id, "now": now})
    return None if row is None else SimpleNamespace(**row)  # a plain row: building a SQLModel costs ~0.1 ms


async def _unclaimed(tx: Lane, redemption_id: str, now: datetime, action: str, done: tuple[str, ...]) -> SimpleNamespace:
    """Why a claim matched nothing: the redemption is unknown, settled already (idempotent answer) or expired."""
    row = await tx.row(_statement(("redemption",), lambda: select(_R).where(_R.c.id == bindparam("rid"))),
                       {"rid": redemption_id})
    if row is None:
        raise NotFound("redemption", redemption_id)
    redemption = SimpleNamespace(**row)
    if redemption.status in done:
        return redemption
    if redemption.status == "held" and aware(redemption.expires_at) <= now:
        raise Conflict(f"the hold expired at {redemption.expires_at.isoformat()}; redeem again", hold_status="expired")
    raise Conflict(f"redemption {redemption_id} is {redemption.status}; it cannot be {action}",
                   hold_status=redemption.status)


def _fifo_statement() -> Any:
    """Take :p points out of account :c's lots FIFO by earn date in ONE statement (a running sum).

    Every change to an account's lots happens under that account's member lock, which the caller holds:
    the lots need no lock of their own, and this statement (run after the lock was taken) sees them current."""
    points = bindparam("p", type_=_LOT.c.remaining.type)
    ordered = select(
        _LOT.c.id, _LOT.c.remaining,
        func.sum(_LOT.c.remaining).over(order_by=(_LOT.c.earned_at, _LOT.c.id)).label("upto"),
    ).where(_LOT.c.customer_id == bindparam("c"), _LOT.c.remaining > 0).cte("ordered")
    return (update(_LOT).where(_LOT.c.id == ordered.c.id, ordered.c.upto - ordered.c.remaining < points)
            .values(remaining=case((ordered.c.upto <= points, 0), else_=ordered.c.upto - points)))


def _spend_statement() -> Any:
    points = bindparam("p", type_=_M.c.balance.type)
    return (update(_M).where(_M.c.customer_id == bindparam("c"), _M.c.status == "active", _M.c.held >= points,
                             _M.c.balance >= points)
            .values(balance=_M.c.balance - points, held=_M.c.held - points, updated_at=_NOW).returning(_M.c.balance))


def _unhold_statement() -> Any:
    return (update(_M).where(_M.c.customer_id == bindparam("c"))
            .values(held=_M.c.held - bindparam("p", type_=_M.c.held.type), updated_at=_NOW))


async def capture(tx: Lane, redemption_id: str, now: datetime) -> SimpleNamespace:
    """Capture a hold, in the fast lane. Everything that does not need the member's lock is written first
    (the hold's state, the ledger entry); the member row is locked last, by the UPDATE that moves its
    balance, and one statement follows it before COMMIT: the FIFO lot update with the event (PostgreSQL)."""
    redemption = await _claim(tx, redemption_id, now, "captured")
    if redemption is None:
        return await _unclaimed(tx, redemption_id, now, "captured", ("captured",))
    account, points, entry_id = redemption.customer_id, redemption.points, redemption.entry_id
    await tx.run(_statement(("entry",), lambda: insert(_E)), {
        "id": entry_id, "customer_id": account, "kind": "redeem", "points": -points, "cause_type": "redemption",
        "cause_id": redemption.id, "business_key": f"redeem:{redemption.id}", "created_at": now,
        "reason": f"{redemption.kind} for booking {redemption.booking_id}"[:500],
    })
    if redemption.reward_id:
        await outbox.write(tx, L.envelope(RewardRedeemed(
            customer_id=account, reward_id=redemption.reward_id, redemption_id=redemption.id, points=points), account))
    # the member's lock, taken last: held points become spent ones; no row = the account cannot pay
    spent = await tx.row(_statement(("spend",), _spend_statement), {"c": account, "p": points, "now": now})
    if spent is None:
        member = await tx.row(_statement(("member",), lambda: select(_M.c.status).where(_M.c.customer_id == bindparam("c"))),
                              {"c": account})
        if member is None or member["status"] != "active":
            raise Conflict("the member's account is closed")
        raise Conflict(f"the account cannot pay this hold of {points} points", code="insufficient_points")
    redeemed = PointsRedeemed(customer_id=account, points=-points, balance=spent["balance"], entry_id=str(entry_id),
                              cause=redemption.booking_id, redemption_id=redemption.id)
    # the lots (FIFO, now under the member's lock) and the event: one statement on PostgreSQL, then COMMIT
    await outbox.write(tx, L.envelope(redeemed, account), along=_statement(("fifo",), _fifo_statement),
                       params={"c": account, "p": points})
    # no tier evaluation: tiers qualify on completed bookings, which a redemption does not change
    return redemption


_RESTOCK = update(_REWARD).where(_REWARD.c.id == bindparam("rid"), _REWARD.c.stock.is_not(None)).values(
    stock=_REWARD.c.stock + 1)


async def _restock(db: AsyncSession | Lane, reward_id: str | None) -> None:
    if reward_id:
        await (db.run if isinstance(db, Lane) else db.execute)(_RESTOCK, {"rid": reward_id})


async def release(tx: Lane, redemption_id: str, now: datetime) -> SimpleNamespace:
    """Release a hold, in the fast lane: the hold's row, then the member's (as capture), then the reward's
    stock (member before reward, as a reward hold takes them: no deadlock between the two)."""
    redemption = await _claim(tx, redemption_id, now, "released")
    if redemption is None:
        return await _unclaimed(tx, redemption_id, now, "released", ("released", "expired"))
    await tx.run(_statement(("unhold",), _unhold_statement),
                 {"c": redemption.customer_id, "p": redemption.points, "now": now})
    await _restock(tx, redemption.reward_id)
    return redemption


async def expire_holds(session: AsyncSession, now: datetime, *, limit: int = 1000) -> int:
    """Expire holds whose time is up, member by member: the holds' rows first, the member's lock last
    (the order of capture and release, so none of them deadlocks with this job)."""
    customers = list((await session.execute(
        select(Redemption.customer_id).where(Redemption.status == "held", Redemption.expires_at <= now)
        .group_by(Redemption.customer_id).order_by(Redemption.customer_id).limit(limit)
    )).scalars())
    expired = 0
    for customer_id in customers:
        rows = list((await session.execute(
            select(Redemption).where(Redemption.customer_id == customer_id, Redemption.status == "held",
                                     Redemption.expires_at <= now).order_by(Redemption.id).with_for_update()
            .execution_options(populate_existing=True)
        )).scalars())
        if not rows:
            continue
        for redemption in rows:
            redemption.status, redemption.settled_at = "expired", now
        await session.flush()
        await session.execute(update(Member).where(Member.customer_id == customer_id)
                              .values(held=Member.held - sum(r.points for r in rows), updated_at=now)
                              .execution_options(synchronize_session=False))
        for redemption in rows:
            await _restock(session, redemption.reward_id)
        expired += len(rows)
    return expired


# --- adjustments and expiry ------------------------------------------------------------------------


async def adjust(session: AsyncSession, customer_id: str, points: int, reason: str, actor: str,
                 now: datetime) -> tuple[Member, LedgerEntry]:
    member = await require_member(session, customer_id)
    account = await L.account_of(session, member, lock=True)
    prog = (await L.programme(session))[1]
    if points > 0:
        entry = (await _credit_and_announce(
            session, account, prog, event_kind="adjust", kind="adjust", points=points, cause_type="admin",
            cause_id=actor, earned_by=member.customer_id, now=now, reason=reason, actor=actor,
        ))[0]
    else:
        available = account.balance - await L.held(session, account.customer_id, now)
        if -points > available:
            raise Unprocessable(f"cannot take {-points} points: {available} available", field="points",
                                available=available)
        entry = await L.debit(session, account, kind="adjust", points=-points, cause_type="admin", cause_id=actor,
                              now=now, reason=reason, actor=actor, earned_by=member.customer_id)
        emit(session, PointsReversed(customer_id=account.customer_id, points=entry.points, balance=account.balance,
                                     entry_id=str(entry.id), cause=reason[:200]), account.customer_id)
    await evaluate_tier(session, account, prog, now)
    return account, entry


async def expire_points(session: AsyncSession, now: datetime, *, limit: int = 1000) -> int:
    """Expire lots whose date has come, FIFO; points reserved by a live hold wait until it settles."""
    today = local_date(session, now)
    customers = list((await session.execute(
        select(Lot.customer_id).where(Lot.remaining > 0, Lot.expires_on <= today).group_by(Lot.customer_id)
        .order_by(Lot.customer_id).limit(limit)
    )).scalars())
    total = 0
    for customer_id in customers:
        member = await L.get_member(session, customer_id, lock=True)
        if member is None or member.status != "active":
            continue
        due = list((await session.execute(
            select(Lot).where(Lot.customer_id == customer_id, Lot.remaining > 0, Lot.expires_on <= today)
            .order_by(Lot.earned_at, Lot.id).with_for_update().execution_options(populate_existing=True)
        )).scalars())
        room = member.balance - await L.held(session, customer_id, now)
        points = 0
        for lot in due:
            take = min(lot.remaining, room - points)
            if take <= 0:
                break
            lot.remaining -= take
            lot.expired += take
            points += take
        if points:
            entry = await L.write_entry(session, member, kind="expire", points=-points, cause_type="expiry",
                                        cause_id=today.isoformat(), now=now, reason="points expired (FIFO by earn date)")
            emit(session, PointsExpired(customer_id=customer_id, points=-points, balance=member.balance,
                                        entry_id=str(entry.id), cause=today.isoformat()), customer_id)
            total += points
    return total


# --- notices ---------------------------------------------------------------------------------------


async def _notice_once(session: AsyncSession, key: str, customer_id: str, kind: str, now: datetime) -> bool:
    if await session.get(Notice, key) is not None:
        return False
    session.add(Notice(key=key, customer_id=customer_id, kind=kind, created_at=now))
    return True


async def emit_notices(session: AsyncSession, now: datetime) -> int:
    prog = (await L.programme(session))[1]
    today = local_date(session, now)
    horizon = today + timedelta(days=prog.notice_days)
    sent = 0
    rows = (await session.execute(
        select(Lot.customer_id, Lot.expires_on, func.sum(Lot.remaining))
        .join(Member, Member.customer_id == Lot.customer_id)
        .where(Lot.remaining > 0, Lot.expires_on > today, Lot.expires_on <= horizon, Member.status == "active")
        .group_by(Lot.customer_id, Lot.expires_on)
    )).all()
    for customer_id, expires_on, points in rows:
        if await _notice_once(session, f"expiring:{customer_id}:{expires_on.isoformat()}", customer_id,
                              "points-expiring", now):
            emit(session, PointsExpiring(customer_id=customer_id, points=int(points), expires_on=expires_on), customer_id)
            sent += 1
    members = list((await session.execute(
        select(Member).where(Member.status == "active", Member.tier != "regular", Member.next_review_on > today,
                             Member.next_review_on <= horizon)
    )).scalars())
    for member in members:
        qualified = qualified_tier(prog, await qualification(session, member.customer_id, prog, now))
        if tier_rank(qualified) >= tier_rank(member.tier) or _in_grace(session, member, prog, member.next_review_on):
            continue
        nxt = TIERS[max(tier_rank(qualified), tier_rank(member.tier) - 1)]
        if await _notice_once(session, f"downgrade:{member.customer_id}:{member.next_review_on.isoformat()}",
                              member.customer_id, "tier-downgrade-warning", now):
            emit(session, TierDowngradeWarning(
                customer_id=member.customer_id, current_tier=member.tier, next_tier=nxt,
                review_on=member.next_review_on, missing=_missing(prog, member.tier,
                                                                   await qualification(session, member.customer_id, prog, now)),
            ), member.customer_id)
            sent += 1
    return sent


def _missing(prog: Programme, tier: str, stats: dict[str, Any]) -> str:
    rule = prog.tier(tier)
    parts = []
    if rule.qualifying_points is not None:
        parts.append(f"{max(0, rule.qualifying_points - stats['points'])} qualifying points")
    if rule.spend is not None:
        parts.append(f"{max(Decimal(0), rule.spend - stats['spend'])} {prog.currency} spend")
    if rule.trips is not None:
        parts.append(f"{max(0, rule.trips - stats['trips'])} trips")
    return " or ".join(parts) or "nothing"


# --- privacy: merge and erase ----------------------------------------------------------------------

_REPOINT = (
    (LedgerEntry, ("customer_id", "earned_by")),
    (Lot, ("customer_id",)),
    (Booking, ("customer_id", "traveller_id")),
    (Redemption, ("customer_id",)),
    (CampaignAward, ("customer_id",)),
    (Referral, ("referrer_id",)),
    (Offer, ("customer_id",)),
)


async def _repoint(session: AsyncSession, old: str, new: str) -> None:
    for model, columns in _REPOINT:
        for column in columns:
            attr = getattr(model, column)
            await session.execute(update(model).where(attr == old).values({column: new}))


async def _lock_holds(session: AsyncSession, customer_ids: list[str]) -> None:
    """Lock the live holds of these customers before their member rows: capture and release lock a hold's
    row first and its member's last, so a use case that re-points or voids holds takes them in that order too."""
    await session.execute(select(Redemption.id).where(Redemption.customer_id.in_(customer_ids),
                                                      Redemption.status == "held")
                          .order_by(Redemption.id).with_for_update())


async def merge(session: AsyncSession, data: CustomersMerged, now: datetime) -> None:
    """Move merged members' points, lots, holds and history to the surviving id: nothing lost, nothing doubled."""
    surviving_id = data.customer_id
    merged_ids = sorted({m for m in data.merged_ids if m != surviving_id})
    await _lock_holds(session, merged_ids)
    locked = {cid: await L.get_member(session, cid, lock=True) for cid in sorted({surviving_id, *merged_ids})}
    survivor = locked[surviving_id]
    prog = (await L.programme(session))[1]
    today = local_date(session, now)
    for merged_id in merged_ids:
        old = locked[merged_id]
        if old is not None and old.status != "active":
            continue  # merged already (a redelivered or re-sent customers-merged changes nothing)
        if survivor is None and old is not None:
            survivor = Member(
                customer_id=surviving_id, member_type=old.member_type, points_to=old.points_to, tier=old.tier,
                tier_since=old.tier_since, next_review_on=old.next_review_on, enrolled_at=old.enrolled_at,
                account_id=old.account_id, segments=old.segments, updated_at=now,
            )
            session.add(survivor)
            await session.flush()
        await _repoint(session, merged_id, surviving_id)
        if survivor is not None and await session.get(ReferralCode, merged_id) is None:
            has_code = (await session.execute(select(ReferralCode).where(ReferralCode.customer_id == surviving_id))).first()
            if has_code:
                await session.execute(ReferralCode.__table__.delete().where(ReferralCode.customer_id == merged_id))
            else:
                await session.execute(update(ReferralCode).where(ReferralCode.customer_id == merged_id)
                                      .values(customer_id=surviving_id))
        survivor_referred = (await session.execute(select(Referral).where(Referral.referee_id == surviving_id))).first()
        if survivor_referred:
            await session.execute(Referral.__table__.delete().where(Referral.referee_id == merged_id))
        else:
            await session.execute(update(Referral).where(Referral.referee_id == merged_id).values(referee_id=surviving_id))
        await session.execute(Notice.__table__.delete().where(Notice.customer_id == merged_id))
        await session.execute(update(Member).where(Member.account_id == merged_id).values(account_id=surviving_id))
        if old is not None and survivor is not None:
            before = L.effective_tier(survivor, today)
            if survivor is not old and old is not None:
                survivor.balance += old.balance
                survivor.debt += old.debt
                survivor.held += old.held
                if tier_rank(old.tier) > tier_rank(survivor.tier):
                    survivor.tier, survivor.tier_since = old.tier, old.tier_since
                survivor.segments = json.dumps(sorted(set(L.segments_of(survivor)) | set(L.segments_of(old))))
                survivor.updated_at = now
            old.balance, old.debt, old.status, old.merged_into, old.account_id = 0, 0, "merged", surviving_id, None
            old.held = 0
            old.updated_at = now
            if survivor.account_id == surviving_id:
                survivor.account_id = None
            _tier_changed(session, survivor, before, L.effective_tier(survivor, today), "merge", now)
    if survivor is not None:
        await session.flush()
        await evaluate_tier(session, survivor, prog, now)


async def erase(session: AsyncSession, data: CustomerErased, now: datetime) -> None:
    """Forfeit the balance, void holds, re-point every row to a random pseudonym; then say so."""
    customer_id = data.customer_id
    await _lock_holds(session, [customer_id])
    member = await L.get_member(session, customer_id, lock=True)
    pseudonym = f"erased-{uuid.uuid4().hex[:16]}"
    if member is not None:
        await session.execute(update(Redemption).where(Redemption.customer_id == customer_id,
                                                       Redemption.status == "held").values(status="released",
                                                                                           settled_at=now))
        if member.status == "active" and member.balance > 0:
            await L.debit(session, member, kind="adjust", points=member.balance, cause_type="erasure", cause_id=None,
                          now=now, reason="customer erased: balance forfeited")
        member.debt = 0
        member.held = 0  # its holds were released above
        await session.flush()
    await _repoint(session, customer_id, pseudonym)
    await session.execute(update(Referral).where(Referral.referee_id == customer_id).values(referee_id=pseudonym))
    await session.execute(ReferralCode.__table__.delete().where(ReferralCode.customer_id == customer_id))
    await session.execute(Notice.__table__.delete().where(Notice.customer_id == customer_id))
    await session.execute(update(Member).where(Member.account_id == customer_id).values(account_id=None))
    await session.execute(Member.__table__.delete().where(Member.merged_into == customer_id,
                                                          Member.status == "merged", Member.balance == 0))
    if member is not None:
        await session.execute(update(Member).where(Member.customer_id == customer_id).values(
            customer_id=pseudonym, status="erased", segments="[]", account_id=None, merged_into=None, updated_at=now))
    await session.flush()
    session.expire_all()  # rows loaded before are stale; expunging them would detach the batch's cached campaigns
    outbox.add(session, new_event(CustomerDataErased(service="loyalty", customer_id=customer_id,
                                                     request_id=data.request_id, erased_at=now),
                                  source=L.SOURCE, subject=customer_id), topic=LOYALTY)


# --- programme, rewards, campaigns -----------------------------------------------------------------


async def set_programme(session: AsyncSession, prog: Programme, actor: str, reason: str, now: datetime) -> int:
    version, _ = await L.programme(session)
    session.info.pop("loyalty_programme", None)
    session.add(ProgrammeVersion(version=version + 1, config=prog.model_dump_json(), actor=actor, reason=reason,
                                 created_at=now))
    await session.flush()
    return version + 1


async def campaign_report(session: AsyncSession, campaign_id: str) -> dict[str, Any]:
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("campaign", campaign_id)
    prog = (await L.programme(session))[1]
    participants, gross, revenue = (await session.execute(
        select(func.count(func.distinct(CampaignAward.customer_id)), func.coalesce(func.sum(CampaignAward.points), 0),
               func.coalesce(func.sum(CampaignAward.revenue), 0))
        .where(CampaignAward.campaign_id == campaign_id, CampaignAward.reversed.is_(False))
    )).one()
    reversed_points = (await session.execute(
        select(func.coalesce(func.sum(CampaignAward.points), 0))
        .where(CampaignAward.campaign_id == campaign_id, CampaignAward.reversed.is_(True))
    )).scalar_one()
    cost = prog.cash_value(int(gross))
    revenue = Decimal(revenue).quantize(CENT)
    roi = str(((revenue - cost) / cost).quantize(CENT)) if cost > 0 else None
    return {
        "campaign_id": campaign_id, "status": campaign.status, "participants": int(participants),
        "points_issued": int(gross), "points_reversed": int(reversed_points), "budget": campaign.budget,
        "budget_used": campaign.issued, "revenue": str(revenue), "currency": prog.currency, "cost": str(cost), "roi": roi,
    }
