"""Queries of the loyalty service; nothing here writes or commits.

Members are locked with SELECT … FOR UPDATE before their balance moves (on SQLite the writer holds the
database lock from BEGIN IMMEDIATE, which serialises the same way). `earning` reads, in a handful of
statements, everything a batch of bookings needs for `rules.plan_earnings`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, Text, and_, cast, func, literal, or_, select, union_all
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty.models import (
    Booking, Campaign, CampaignGroup, LedgerEntry, Lot, Member, Offer, ProgrammeVersion, Redemption, Referral,
    ReferralCode, Reward,
)
from services.loyalty.programme import Programme, default_programme
from services.loyalty.rules import EarnError, Stats
from shared.db import among, dialect_of, settings_of
from shared.rows import together
from shared.errors import NotFound
from shared.events import BookingCompleted

_PROGRAMME = ProgrammeVersion.__table__
CURRENT = select(_PROGRAMME.c.version, _PROGRAMME.c.config).order_by(_PROGRAMME.c.version.desc()).limit(1)


def tz(session: AsyncSession) -> ZoneInfo:
    """The business time zone (expiry dates, reviews, campaign calendars): the service's settings.tz."""
    return settings_of(session).tz


def local_date(session: AsyncSession, moment: datetime) -> date:
    """The business day of a moment (settings.tz)."""
    return moment.astimezone(tz(session)).date()


async def programme(session: AsyncSession) -> tuple[int, Programme]:
    """The current programme and its version (0: the default, never changed)."""
    row = (await session.execute(CURRENT)).first()
    return (0, parse_programme(None)) if row is None else (row.version, parse_programme(row.config))


@functools.lru_cache(maxsize=16)
def parse_programme(config: str | None) -> Programme:
    """A programme from its stored JSON, parsed once per text (callers share it: never mutate it)."""
    return default_programme() if config is None else Programme.model_validate_json(config)


# --- members -------------------------------------------------------------------------------------


async def get_member(session: AsyncSession, customer_id: str, *, lock: bool = False) -> Member | None:
    query = select(Member).where(Member.customer_id == customer_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query.execution_options(populate_existing=True))).scalar_one_or_none()


async def resolve(session: AsyncSession, customer_id: str, *, lock: bool = False,
                  known: dict[str, Member] | None = None) -> Member | None:
    """The active member for a customer id, following merges to the surviving id (`known`: rows read already)."""
    known = {} if known is None else known
    member = known.get(customer_id) or await get_member(session, customer_id, lock=lock)
    for _ in range(10):
        if member is None or member.status != "merged" or not member.merged_into:
            break
        member = known.get(member.merged_into) or await get_member(session, member.merged_into, lock=lock)
    if member is not None:
        known[member.customer_id] = member
    return member if member is not None and member.status == "active" else None


async def account_of(session: AsyncSession, member: Member, *, lock: bool = False,
                     known: dict[str, Member] | None = None) -> Member:
    """The member whose balance holds this member's points (a family head, a pooling enterprise)."""
    if member.account_id and member.account_id != member.customer_id:
        head = await resolve(session, member.account_id, lock=lock, known=known)
        if head is not None and (head.member_type == "family" or head.points_to == "account"):
            return head
    if lock and (known is None or member.customer_id not in known):
        return await get_member(session, member.customer_id, lock=True) or member
    return member


async def require_member(session: AsyncSession, customer_id: str, *, lock: bool = False) -> Member:
    member = await resolve(session, customer_id, lock=lock)
    if member is None:
        raise NotFound("member", customer_id)
    return member


async def require_account(session: AsyncSession, customer_id: str) -> tuple[Member, Member]:
    """(the member, its account, locked): the start of every use case that moves an account's points."""
    member = await require_member(session, customer_id)
    return member, await account_of(session, member, lock=True)


async def held(session: AsyncSession, customer_id: str, now: datetime) -> int:
    """Points reserved by the account's live holds."""
    return int((await session.execute(
        select(func.coalesce(func.sum(Redemption.points), 0))
        .where(Redemption.customer_id == customer_id, Redemption.status == "held", Redemption.expires_at > now)
    )).scalar_one())


async def entry_exists(session: AsyncSession, business_key: str) -> bool:
    return (await session.execute(select(LedgerEntry.id).where(LedgerEntry.business_key == business_key))).first() \
        is not None


# --- qualification -------------------------------------------------------------------------------


def window_start(prog: Programme, now: datetime) -> datetime:
    return now - timedelta(days=round(prog.window_months * 30.44))


async def stats_of(session: AsyncSession, account_ids: Iterable[str], since: datetime) -> dict[str, Stats]:
    """Qualifying points, spend and trips of accounts over the window since `since`."""
    ids = sorted(set(account_ids))
    stats = {account_id: Stats() for account_id in ids}
    for account_id, points, spend, trips in (await session.execute(
        select(Booking.customer_id, func.sum(Booking.qualifying), func.sum(Booking.spend), func.count())
        .where(among(session, Booking.customer_id, ids), Booking.status == "completed", Booking.completed_at >= since)
        .group_by(Booking.customer_id)
    )).all():
        stats[account_id] = Stats(int(points or 0), Decimal(spend or 0), int(trips))
    return stats


async def qualification(session: AsyncSession, account_id: str, prog: Programme, now: datetime) -> Stats:
    return (await stats_of(session, [account_id], window_start(prog, now)))[account_id]


# --- what a batch of bookings needs --------------------------------------------------------------


@dataclass
class Earning:
    """What `rules.plan_earnings` reads: the new bookings and the rows they touch, locked."""

    tz: ZoneInfo
    since: datetime  # the qualification window's start
    version: int = 0  # the programme's (0: the default, never changed)
    programme: Programme | None = None  # read with the batch's fresh bookings
    fresh: list[tuple[BookingCompleted, datetime]] = field(default_factory=list)  # new bookings, once each, in order
    members: dict[str, Member] = field(default_factory=dict)  # every member row read, by id
    route: dict[str, tuple[str, str]] = field(default_factory=dict)  # customer id → (traveller id, account id)
    campaigns: list[Campaign] = field(default_factory=list)
    offers: dict[str, Offer] = field(default_factory=dict)  # open win-back offers, by traveller
    referrals: dict[str, tuple[Referral, Member | None, Member | None]] = field(default_factory=dict)
    travelled: set[str] = field(default_factory=set)  # referees with a booking before this batch
    stats: dict[str, Stats] = field(default_factory=dict)  # by account
    treated: dict[str, set[str]] = field(default_factory=dict)  # segment campaign → travellers in its treated group


async def earning(session: AsyncSession, items: list[tuple[BookingCompleted, datetime]], *,
                  along: list[tuple[Any, Any]] = ()) -> Earning:
    """The batch's new bookings, the programme and, locked, their members (following merges and accounts), open
    offers, pending referrals (with the referrers' accounts) and active campaigns; the accounts' qualification
    figures. `along`: writes (`shared.rows.together`) to run with the first read, on PostgreSQL in its statement."""
    found = Earning(tz(session), datetime.min)
    ids = {data.booking_id for data, _ in items}
    first = select(Booking.booking_id).where(among(session, Booking.booking_id, ids))
    for statement, params in together(dialect_of(session), [*along, (first, {})]):
        result = await session.execute(statement, params)
    known = set(result.scalars())
    for data, now in items:
        if data.booking_id not in known:  # earned or cancelled already, or twice in this batch
            known.add(data.booking_id)
            found.fresh.append((data, now))
    if not found.fresh:
        return found
    customers = sorted({data.customer_id for data, _ in found.fresh})
    found.members = {m.customer_id: m for m in (await session.execute(
        select(Member).where(among(session, Member.customer_id, customers)).order_by(Member.customer_id).with_for_update()
        .execution_options(populate_existing=True))).scalars()}
    for customer_id in customers:
        if customer_id not in found.members:  # not a member (the statement above looked): enrolled by the plan
            found.route[customer_id] = (customer_id, customer_id)
            continue
        traveller = await resolve(session, customer_id, lock=True, known=found.members)
        if traveller is None:  # a member that is not active and leads to no active one
            raise EarnError(f"member {customer_id} is {found.members[customer_id].status}; nothing can earn there")
        account = await account_of(session, traveller, lock=True, known=found.members)
        found.route[customer_id] = (traveller.customer_id, account.customer_id)
    await _extras(session, found, sorted({traveller for traveller, _ in found.route.values()}))
    found.since = window_start(found.programme, items[0][1])
    accounts = {account for _, account in found.route.values()}
    accounts |= {account.customer_id for _, _, account in found.referrals.values() if account is not None}
    found.stats = await stats_of(session, accounts, found.since)
    found.treated = await treated(session, [c.id for c in found.campaigns if c.segment_id is not None],
                                  [traveller for traveller, _ in found.route.values()])
    return found


async def treated(session: AsyncSession, campaign_ids: Iterable[str],
                  customer_ids: Iterable[str]) -> dict[str, set[str]]:
    """campaign id → those of `customer_ids` in its treated group."""
    found: dict[str, set[str]] = {}
    ids, customers = sorted(set(campaign_ids)), sorted(set(customer_ids))
    if ids and customers:
        for campaign_id, customer_id in (await session.execute(
            select(CampaignGroup.campaign_id, CampaignGroup.customer_id).where(
                among(session, CampaignGroup.campaign_id, ids), among(session, CampaignGroup.customer_id, customers),
                CampaignGroup.grp == "treated"))).all():
            found.setdefault(campaign_id, set()).add(customer_id)
    return found


def _probe(session: AsyncSession, travellers: list[str]) -> Any:
    """One statement for what a batch usually finds nothing of, or the same every time: the current programme, and
    the ids of the travellers' open win-back offers and pending referrals and of the active campaigns, each locked
    (in this order, the order of the statements it replaces)."""
    def locked(kind: str, query: Any) -> Any:
        ids = query.with_for_update().subquery()
        return select(literal(kind).label("kind"), ids.c.id, literal(None, Text).label("config"))

    current = CURRENT.subquery()
    return union_all(
        select(literal("programme").label("kind"), cast(current.c.version, String).label("id"), current.c.config),
        locked("offer", select(Offer.id).where(among(session, Offer.customer_id, travellers), Offer.status == "open")),
        locked("referral", select(Referral.id).where(among(session, Referral.referee_id, travellers),
                                                     Referral.status == "pending")),
        locked("campaign", select(Campaign.id).where(Campaign.status == "active").order_by(Campaign.id)),
    )


async def _extras(session: AsyncSession, found: Earning, travellers: list[str]) -> None:
    """The programme; open win-back offers of the travellers; pending referrals of those who never travelled, with
    referrers; active campaigns. One statement (`_probe`) when there are none of them, one more per kind found."""
    probed: dict[str, list[str]] = {"offer": [], "referral": [], "campaign": []}
    found.version, found.programme = 0, parse_programme(None)
    for kind, key, config in (await session.execute(_probe(session, travellers))).all():
        if kind == "programme":
            found.version, found.programme = int(key), parse_programme(config)
        else:
            probed[kind].append(key)
    if probed["offer"]:  # locked by the probe: read as they are
        for offer in (await session.execute(
            select(Offer).where(among(session, Offer.id, probed["offer"])).order_by(Offer.created_at)
            .execution_options(populate_existing=True))).scalars():
            found.offers.setdefault(offer.customer_id, offer)
    if probed["campaign"]:
        found.campaigns = list((await session.execute(
            select(Campaign).where(among(session, Campaign.id, probed["campaign"])).order_by(Campaign.id)
            .execution_options(populate_existing=True))).scalars())
    if probed["referral"]:
        await _referrals(session, found, probed["referral"])


async def _referrals(session: AsyncSession, found: Earning, ids: list[str]) -> None:
    """Pending referrals (locked) of referees who never travelled before this batch, with referrers and accounts."""
    pending = list((await session.execute(
        select(Referral).where(among(session, Referral.id, ids)).order_by(Referral.referee_id)
        .execution_options(populate_existing=True))).scalars())
    found.travelled = set((await session.execute(select(Booking.traveller_id).distinct().where(
        among(session, Booking.traveller_id, [r.referee_id for r in pending])))).scalars())
    for referral in pending:
        if referral.referee_id not in found.travelled:
            referrer = await resolve(session, referral.referrer_id, lock=True, known=found.members)
            account = None if referrer is None else await account_of(session, referrer, lock=True, known=found.members)
            found.referrals[referral.referee_id] = (referral, referrer, account)


async def referral_code_of(session: AsyncSession, customer_id: str) -> ReferralCode | None:
    return (await session.execute(select(ReferralCode).where(ReferralCode.customer_id == customer_id))).scalar_one_or_none()


async def live_holds(session: AsyncSession, customer_id: str, now: datetime) -> list[Redemption]:
    return list((await session.execute(
        select(Redemption).where(Redemption.customer_id == customer_id, Redemption.status == "held",
                                 Redemption.expires_at > now).order_by(Redemption.created_at)
    )).scalars())


async def expiring(session: AsyncSession, customer_id: str, until: date) -> list[tuple[date, int]]:
    """Points of the account's lots expiring by `until`, by date."""
    return [(day, int(points)) for day, points in (await session.execute(
        select(Lot.expires_on, func.sum(Lot.remaining))
        .where(Lot.customer_id == customer_id, Lot.remaining > 0, Lot.expires_on <= until)
        .group_by(Lot.expires_on).order_by(Lot.expires_on)
    )).all()]


async def roster(session: AsyncSession, account_id: str) -> list[str]:
    return list((await session.execute(
        select(Member.customer_id).where(Member.account_id == account_id, Member.status == "active")
        .order_by(Member.customer_id)
    )).scalars())


async def entries(session: AsyncSession, customer_id: str, *, before: int | None, limit: int) -> list[LedgerEntry]:
    """The account's entries, newest first, older than entry `before`."""
    query = select(LedgerEntry).where(LedgerEntry.customer_id == customer_id)
    if before is not None:
        query = query.where(LedgerEntry.id < before)
    return list((await session.execute(query.order_by(LedgerEntry.id.desc()).limit(limit))).scalars())


async def referrals_of(session: AsyncSession, referrer_id: str, *, after: tuple[datetime, str] | None,
                       limit: int) -> list[Referral]:
    """A referrer's referrals, oldest first, after (created_at, id)."""
    query = select(Referral).where(Referral.referrer_id == referrer_id)
    if after is not None:
        moment, last = after
        query = query.where(or_(Referral.created_at > moment, and_(Referral.created_at == moment, Referral.id > last)))
    return list((await session.execute(query.order_by(Referral.created_at, Referral.id).limit(limit))).scalars())


async def versions(session: AsyncSession) -> list[ProgrammeVersion]:
    return list((await session.execute(select(ProgrammeVersion).order_by(ProgrammeVersion.version.desc()))).scalars())


async def active_rewards(session: AsyncSession) -> list[Reward]:
    return list((await session.execute(select(Reward).where(Reward.active.is_(True)).order_by(Reward.points))).scalars())


async def campaigns(session: AsyncSession) -> list[Campaign]:
    return list((await session.execute(select(Campaign).order_by(Campaign.created_at.desc()))).scalars())
