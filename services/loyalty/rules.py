"""The rules of the programme, pure: what a booking earns at a tier, which tier a member qualifies for, what
is missing — and the planning of a run of credits with them.

`plan_earnings` takes the rows the repository read (members, campaigns, offers, referrals, qualification
figures) and returns a `Plan`: the members to enrol, the ledger movements with their lots, the bookings and
campaign awards, the tier changes, and the new state of every account, campaign, offer and referral it
touched. The planner works on copies; `ledger.record` writes the plan. A single booking-completed event is a
batch of one; a goodwill or survey bonus is a plan of one credit. Nothing here reads or writes the database.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from services.loyalty.programme import TIERS, Programme
from shared.db import aware

CENT = Decimal("0.01")


class EarnError(ValueError):
    """A booking that cannot earn as it stands (e.g. a currency without a rate): dead-lettered, replayable."""


def floor_int(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_DOWN))


def add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def tier_rank(name: str) -> int:
    return TIERS.index(name)


def segments_of(member: Any) -> list[str]:
    return list(json.loads(member.segments or "[]"))


def next_anniversary(enrolled_on: date, today: date) -> date:
    years = 1
    while (review := add_months(enrolled_on, 12 * years)) <= today:
        years += 1
    return review


# --- tiers ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Stats:
    """What a member did in the qualification window: qualifying points, spend and trips."""

    points: int = 0
    spend: Decimal = Decimal(0)
    trips: int = 0


def effective_tier(member: Any, today: date) -> str:
    """The tier a member has today: an override while it lasts, else the earned tier."""
    if member.tier_override and (member.tier_override_until is None or member.tier_override_until >= today):
        return member.tier_override
    return member.tier


def qualified_tier(prog: Programme, stats: Stats) -> str:
    """The highest tier any of whose thresholds the stats meet."""
    best = "regular"
    for rule in prog.tiers[1:]:
        if ((rule.qualifying_points is not None and stats.points >= rule.qualifying_points)
                or (rule.spend is not None and stats.spend >= rule.spend)
                or (rule.trips is not None and stats.trips >= rule.trips)):
            best = rule.name
    return best


def in_grace(prog: Programme, tier_since: date, review_on: date) -> bool:
    """Whether a tier reached on `tier_since` is still protected from a downgrade on `review_on`."""
    return add_months(tier_since, prog.grace_months) > review_on


def reviewed_tier(prog: Programme, tier: str, qualified: str, protected: bool) -> str:
    """The tier after an anniversary review: up to what qualifies, down one tier at most (not in grace)."""
    rank, target = tier_rank(tier), tier_rank(qualified)
    if target > rank:
        return qualified
    if target < rank and not protected:
        return TIERS[max(target, rank - 1)]
    return tier


def missing(prog: Programme, tier: str, stats: Stats) -> str:
    """What the member still needs in the window to keep `tier`, in words."""
    rule = prog.tier(tier)
    parts = []
    if rule.qualifying_points is not None:
        parts.append(f"{max(0, rule.qualifying_points - stats.points)} qualifying points")
    if rule.spend is not None:
        parts.append(f"{max(Decimal(0), rule.spend - stats.spend)} {prog.currency} spend")
    if rule.trips is not None:
        parts.append(f"{max(0, rule.trips - stats.trips)} trips")
    return " or ".join(parts) or "nothing"


def progress(prog: Programme, tier: str, stats: Stats) -> dict[str, Any]:
    """Tier progress of a member view: the window's figures, the next tier and what it takes."""
    rank = tier_rank(tier)
    answer: dict[str, Any] = {
        "qualifying": {"points": stats.points, "spend": str(stats.spend), "trips": stats.trips,
                       "window_months": prog.window_months},
        "qualifies_for": qualified_tier(prog, stats),
    }
    if rank + 1 < len(TIERS):
        nxt = prog.tiers[rank + 1]
        answer["next_tier"] = nxt.name
        answer["to_next"] = {
            "points": max(0, nxt.qualifying_points - stats.points) if nxt.qualifying_points is not None else None,
            "spend": str(max(Decimal(0), nxt.spend - stats.spend)) if nxt.spend is not None else None,
            "trips": max(0, nxt.trips - stats.trips) if nxt.trips is not None else None,
        }
    if rank > 0:
        answer["to_keep"] = missing(prog, tier, stats)
    return answer


# --- earning -------------------------------------------------------------------------------------


def rate(prog: Programme, currency: str) -> Decimal:
    found = prog.rates.get(currency)
    if found is None:
        raise EarnError(f"no earn rate for currency {currency}; add it to the programme and replay")
    return found


def booking_points(prog: Programme, tier: str, data: Any) -> tuple[Decimal, int, int]:
    """(spend in the programme currency, qualifying base points, points earned) of a booking at a tier."""
    spend = (data.amount * rate(prog, data.currency)).quantize(CENT)
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


def campaign_matches(campaign: Any, tier: str, segments: list[str], product: Any, day: date) -> bool:
    """Whether an active campaign applies to a booking of `product` completed on `day` by a member."""
    if campaign.starts_on and day < campaign.starts_on or campaign.ends_on and day > campaign.ends_on:
        return False
    tiers, segs = json.loads(campaign.tiers), json.loads(campaign.segments)
    tags, dests = json.loads(campaign.tags), json.loads(campaign.destinations)
    return ((not tiers or tier in tiers) and (not segs or bool(set(segs) & set(segments)))
            and (not tags or bool(set(tags) & set(product.tags)))
            and (not dests or product.destination in dests))


def campaign_extra(prog: Programme, campaign: Any, tier: str, base: int, issued: int) -> int:
    """A campaign's points on a booking: its multiplier on the tier-adjusted base, or its bonus, within budget."""
    if campaign.kind == "multiplier":
        extra = floor_int(floor_int(base * prog.tier(tier).multiplier) * ((campaign.multiplier or 1) - 1))
    else:
        extra = campaign.bonus_points or 0
    if campaign.budget is not None:
        extra = min(extra, campaign.budget - issued)
    return extra


# --- planning ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Account:
    """The planner's copy of a member account: what the plan changes on its row."""

    customer_id: str
    tier: str
    tier_since: datetime
    tier_override: str | None
    tier_override_until: date | None
    balance: int
    debt: int
    segments: list[str]


@dataclass(slots=True)
class Enrolment:
    customer_id: str
    now: datetime
    next_review_on: date


@dataclass(slots=True)
class Movement:
    """One ledger entry (with its lot when it credits) and the event that announces it."""

    account: str
    points: int
    balance: int  # the account's balance after it
    kind: str
    cause_type: str
    cause_id: str | None
    now: datetime
    event: str | None  # the kind of points-earned, or "reversed"
    business_key: str | None = None
    earned_by: str | None = None
    reason: str | None = None
    actor: str | None = None
    note: str | None = None
    lot: tuple[datetime, date, str | None] | None = None  # (earned at, expires on, booking id)
    referee: str | None = None  # referral points: who was referred
    settles: int = 0  # a debt settlement: points taken from the account's lots, FIFO


@dataclass(slots=True)
class TierChange:
    account: str
    before: str
    after: str
    reason: str
    now: datetime


@dataclass
class Plan:
    tz: ZoneInfo
    steps: list[Enrolment | Movement | TierChange] = field(default_factory=list)  # in order: events follow it
    accounts: dict[str, Account] = field(default_factory=dict)
    bookings: list[dict[str, Any]] = field(default_factory=list)
    awards: list[dict[str, Any]] = field(default_factory=list)
    issued: dict[str, int] = field(default_factory=dict)  # campaign id → issued after the plan
    offers: dict[str, str] = field(default_factory=dict)  # offer id → the booking that used it
    referrals: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # referral id → (booking, when)
    travelled: set[str] = field(default_factory=set)
    total: int = 0

    def local(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def account(self, member: Any) -> Account:
        """The working copy of a member's account (one per account for the whole plan)."""
        found = self.accounts.get(member.customer_id)
        if found is None:
            found = self.accounts[member.customer_id] = Account(
                member.customer_id, member.tier, member.tier_since, member.tier_override, member.tier_override_until,
                member.balance, member.debt, segments_of(member))
        return found

    def enrol(self, customer_id: str, now: datetime) -> Account:
        today = self.local(now)
        self.steps.append(Enrolment(customer_id, now, next_anniversary(today, today)))
        account = self.accounts[customer_id] = Account(customer_id, "regular", now, None, None, 0, 0, [])
        return account

    def credit(self, account: Account, points: int, *, prog: Programme, kind: str, event: str, cause_type: str,
               cause_id: str | None, now: datetime, earned_at: datetime | None = None, booking_id: str | None = None,
               **entry: Any) -> None:
        """Credit points into a new lot; then settle any debt from them."""
        earned_at = earned_at or now
        account.balance += points
        lot = (earned_at, add_months(self.local(earned_at), prog.expiry_months), booking_id)
        self.steps.append(Movement(account.customer_id, points, account.balance, kind, cause_type, cause_id, now, event,
                                   lot=lot, **entry))
        if account.debt > 0:
            settle = min(account.debt, points)
            account.balance -= settle
            account.debt -= settle
            self.steps.append(Movement(
                account.customer_id, -settle, account.balance, "reverse", "debt", cause_id, now, "reversed",
                note=f"settles {settle} points of debt from reversed earnings; {account.debt} still owed",
                settles=settle))

    def upgrade(self, prog: Programme, account: Account, stats: Stats, now: datetime) -> None:
        """Upgrade at once when the account qualifies for a higher tier (downgrades wait for the review)."""
        qualified = qualified_tier(prog, stats)
        if tier_rank(qualified) > tier_rank(account.tier):
            today = self.local(now)
            before = effective_tier(account, today)
            account.tier, account.tier_since = qualified, now
            after = effective_tier(account, today)
            if after != before:
                self.steps.append(TierChange(account.customer_id, before, after, "upgrade", now))


def plan_earnings(prog: Programme, version: int, found: Any) -> Plan:
    """What `found.fresh` (new bookings, in order) earn, given what the repository read (`repository.Earning`)."""
    plan = Plan(found.tz)
    for data, now in found.fresh:
        traveller_id, account_id = found.route.get(data.customer_id, (data.customer_id, data.customer_id))
        member = found.members.get(account_id)
        account = plan.accounts.get(account_id) or (plan.account(member) if member else plan.enrol(account_id, now))
        _plan_booking(plan, prog, version, found, data, now, traveller_id, account)
    return plan


def _plan_booking(plan: Plan, prog: Programme, version: int, found: Any, data: Any, now: datetime,
                  traveller_id: str, account: Account) -> None:
    booking_id = data.booking_id
    completed_at = aware(data.completed_at)
    tier = effective_tier(account, plan.local(now))
    spend, base, earned = booking_points(prog, tier, data)
    common = dict(prog=prog, now=now, earned_by=traveller_id, earned_at=completed_at, booking_id=booking_id)
    booked = 0
    if earned > 0:
        plan.credit(account, earned, kind="earn", event="earn", cause_type="booking", cause_id=booking_id,
                    business_key=f"earn:{booking_id}",
                    reason=f"{tier} ×{prog.tier(tier).multiplier}, programme v{version}", **common)
        booked += earned
    booked += _plan_campaigns(plan, prog, found, account, tier, data, spend, base, common)
    offer = found.offers.get(traveller_id)
    if offer is not None and offer.id not in plan.offers and aware(offer.expires_at) > now:
        plan.offers[offer.id] = booking_id
        if offer.points > 0:
            plan.credit(account, offer.points, kind="bonus", event="bonus", cause_type="winback", cause_id=booking_id,
                        business_key=f"winback:{offer.id}", reason="win-back offer", **common)
            booked += offer.points
    plan.bookings.append(dict(
        booking_id=booking_id, customer_id=account.customer_id, traveller_id=traveller_id, status="completed",
        amount=data.amount, currency=data.currency, spend=spend, earned=booked, qualifying=base,
        completed_at=completed_at, cancelled_at=None, created_at=now, product_kind=data.product.kind))
    plan.total += booked
    if traveller_id not in found.travelled and traveller_id not in plan.travelled:
        _plan_referral(plan, prog, found, traveller_id, booking_id, now)
    plan.travelled.add(traveller_id)
    stats = found.stats.setdefault(account.customer_id, Stats())
    if completed_at >= found.since:
        stats.points, stats.spend, stats.trips = stats.points + base, stats.spend + spend, stats.trips + 1
    plan.upgrade(prog, account, stats, now)


def _plan_campaigns(plan: Plan, prog: Programme, found: Any, account: Account, tier: str, data: Any,
                    spend: Any, base: int, common: dict[str, Any]) -> int:
    """Campaign awards: multipliers on the tier-adjusted base, or fixed bonuses, within each one's budget; a
    segment campaign pays its treated group only (`found.treated`), never its control group."""
    booked = 0
    day = plan.local(common["earned_at"])
    for campaign in found.campaigns:
        issued = plan.issued.get(campaign.id, campaign.issued)
        if campaign.budget is not None and issued >= campaign.budget:
            continue  # exhausted
        if campaign.segment_id is not None and common["earned_by"] not in found.treated.get(campaign.id, ()):
            continue  # not in the segment when the campaign ran, or held out in its control group
        if not campaign_matches(campaign, tier, account.segments, data.product, day):
            continue
        extra = campaign_extra(prog, campaign, tier, base, issued)
        plan.awards.append(dict(campaign_id=campaign.id, booking_id=data.booking_id, customer_id=account.customer_id,
                                points=max(extra, 0), revenue=spend, reversed=False, created_at=common["now"]))
        plan.issued[campaign.id] = issued + max(extra, 0)
        if extra > 0:
            plan.credit(account, extra, kind="bonus", event="bonus", cause_type="campaign", cause_id=campaign.id,
                        business_key=f"campaign:{campaign.id}:{data.booking_id}",
                        reason=f"campaign {campaign.name}"[:500], **common)
            booked += extra
    return booked


def _plan_referral(plan: Plan, prog: Programme, found: Any, traveller_id: str, booking_id: str, now: datetime) -> None:
    """The referrer's bonus on the referee's first trip, once."""
    pending = found.referrals.get(traveller_id)
    if pending is None or pending[0].id in plan.referrals:
        return
    referral, referrer, referrer_account = pending
    plan.referrals[referral.id] = (booking_id, now)
    if referrer is None or prog.referral_bonus <= 0:
        return
    account = plan.accounts.get(referrer_account.customer_id) or plan.account(referrer_account)
    plan.credit(account, prog.referral_bonus, prog=prog, kind="bonus", event="referral", cause_type="referral",
                cause_id=referral.id, business_key=f"referral:{referral.id}", earned_by=referrer.customer_id, now=now,
                reason="referral: the referee completed a first trip", referee=traveller_id)
    plan.upgrade(prog, account, found.stats.setdefault(account.customer_id, Stats()), now)


def plan_credit(prog: Programme, tz: ZoneInfo, member: Any | None, customer_id: str, points: int, *, now: datetime,
                **credit: Any) -> Plan:
    """One credit (goodwill, a survey bonus, an admin adjustment) into an account, enrolling it if it is new."""
    plan = Plan(tz)
    account = plan.account(member) if member is not None else plan.enrol(customer_id, now)
    plan.credit(account, points, prog=prog, now=now, **credit)
    plan.total = points
    return plan
