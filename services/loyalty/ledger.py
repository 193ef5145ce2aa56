"""The ledger primitives: lock a member, credit into a lot, debit lots FIFO, held points.

Every function adds to the caller's transaction and never commits. On PostgreSQL a member row
is locked with SELECT … FOR UPDATE before its balance moves; on SQLite the writer holds the
database lock from BEGIN IMMEDIATE, which serialises the same way.
"""

from __future__ import annotations

import functools
import json
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty.models import LedgerEntry, Lot, Member, ProgrammeVersion, Redemption
from services.loyalty.programme import Programme, add_months, default_programme
from shared import outbox
from shared.db import settings_of
from shared.events import Envelope, EventData, new_event

SOURCE = "tourcrm/loyalty"


class LedgerError(RuntimeError):
    """A movement that would break the ledger's invariants; nothing of it is written."""


def tz(session: AsyncSession) -> ZoneInfo:
    """The business time zone (expiry dates, reviews, campaign calendars): the service's settings.tz."""
    return settings_of(session).tz


def local_date(session: AsyncSession, moment: datetime) -> date:
    return moment.astimezone(tz(session)).date()


def aware(moment: datetime) -> datetime:
    """Event data from other systems may carry a naive time: read it as UTC (tables only take aware ones)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def envelope(data: EventData, subject: str | None) -> Envelope:
    return new_event(data, source=SOURCE, subject=subject)


def emit(session: AsyncSession, data: EventData, subject: str | None) -> None:
    outbox.add(session, envelope(data, subject))


async def programme(session: AsyncSession) -> tuple[int, Programme]:
    """The current programme; read once per transaction (a consumer batch shares one)."""
    cached = session.info.get("loyalty_programme")
    if cached is not None:
        return cached
    session.info["loyalty_programme"] = found = await _load_programme(session)
    return found


CURRENT = (select(ProgrammeVersion.__table__.c.version, ProgrammeVersion.__table__.c.config)
            .order_by(ProgrammeVersion.__table__.c.version.desc()).limit(1))


async def _load_programme(session: AsyncSession) -> tuple[int, Programme]:
    row = (await session.execute(CURRENT)).first()
    if row is None:
        return 0, parse_programme(None)
    return row.version, parse_programme(row.config)


@functools.lru_cache(maxsize=16)
def parse_programme(config: str | None) -> Programme:
    """A programme from its stored JSON, parsed once per process (callers share it: never mutate it)."""
    return default_programme() if config is None else Programme.model_validate_json(config)


async def get_member(session: AsyncSession, customer_id: str, *, lock: bool = False) -> Member | None:
    query = select(Member).where(Member.customer_id == customer_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query.execution_options(populate_existing=True))).scalar_one_or_none()


async def resolve(session: AsyncSession, customer_id: str, *, lock: bool = False) -> Member | None:
    """The member for a customer id, following merges to the surviving id."""
    member = await get_member(session, customer_id, lock=lock)
    for _ in range(10):
        if member is None or member.status != "merged" or not member.merged_into:
            break
        member = await get_member(session, member.merged_into, lock=lock)
    if member is not None and member.status != "active":
        return None
    return member


async def account_of(session: AsyncSession, member: Member, *, lock: bool = False) -> Member:
    """The member whose balance holds this member's points (a family head, a pooling enterprise)."""
    if member.account_id and member.account_id != member.customer_id:
        head = await resolve(session, member.account_id, lock=lock)
        if head is not None and (head.member_type == "family" or head.points_to == "account"):
            return head
    if lock:
        return await get_member(session, member.customer_id, lock=True) or member
    return member


async def held(session: AsyncSession, customer_id: str, now: datetime) -> int:
    value = (
        await session.execute(
            select(func.coalesce(func.sum(Redemption.points), 0)).where(
                Redemption.customer_id == customer_id, Redemption.status == "held", Redemption.expires_at > now
            )
        )
    ).scalar_one()
    return int(value)


def next_anniversary(enrolled_on: date, today: date) -> date:
    years = 1
    while (review := add_months(enrolled_on, 12 * years)) <= today:
        years += 1
    return review


def segments_of(member: Member) -> list[str]:
    return list(json.loads(member.segments or "[]"))


def effective_tier(member: Member, today: date) -> str:
    if member.tier_override and (member.tier_override_until is None or member.tier_override_until >= today):
        return member.tier_override
    return member.tier


async def write_entry(
    session: AsyncSession, member: Member, *, kind: str, points: int, cause_type: str, cause_id: str | None,
    now: datetime, business_key: str | None = None, earned_by: str | None = None, reason: str | None = None,
    actor: str | None = None, note: str | None = None,
) -> LedgerEntry:
    if points == 0 and not note:
        raise LedgerError("an entry moves at least one point (a zero entry only carries a note)")
    if member.balance + points < 0:
        raise LedgerError(f"entry of {points} would take the balance below zero")
    entry = LedgerEntry(
        customer_id=member.customer_id, earned_by=earned_by, kind=kind, points=points, cause_type=cause_type,
        cause_id=cause_id, business_key=business_key, reason=reason, actor=actor, note=note, created_at=now,
    )
    session.add(entry)
    member.balance += points
    member.updated_at = now
    await session.flush()
    return entry


async def credit(
    session: AsyncSession, member: Member, prog: Programme, *, kind: str, points: int, cause_type: str,
    cause_id: str | None, now: datetime, earned_at: datetime | None = None, booking_id: str | None = None,
    business_key: str | None = None, earned_by: str | None = None, reason: str | None = None, actor: str | None = None,
) -> list[LedgerEntry]:
    """Credit points into a new lot; then settle any debt from them. Returns the entries written."""
    entry = await write_entry(
        session, member, kind=kind, points=points, cause_type=cause_type, cause_id=cause_id, now=now,
        business_key=business_key, earned_by=earned_by, reason=reason, actor=actor,
    )
    earned_at = earned_at or now
    session.add(Lot(
        customer_id=member.customer_id, entry_id=entry.id, booking_id=booking_id, earned_at=earned_at,
        expires_on=add_months(local_date(session, earned_at), prog.expiry_months), points=points, remaining=points,
    ))
    entries = [entry]
    if member.debt > 0:
        settle = min(member.debt, points)
        await session.flush()
        await consume(session, member.customer_id, settle)
        entries.append(await write_entry(
            session, member, kind="reverse", points=-settle, cause_type="debt", cause_id=cause_id, now=now,
            note=f"settles {settle} points of debt from reversed earnings; {member.debt - settle} still owed",
        ))
        member.debt -= settle
    return entries


async def consume(session: AsyncSession, customer_id: str, points: int, *, booking_id: str | None = None,
                  expire: bool = False) -> None:
    """Take `points` out of the member's lots: that booking's lots first, then FIFO by earn date."""
    lots = list((await session.execute(
        select(Lot).where(Lot.customer_id == customer_id, Lot.remaining > 0)
        .order_by(Lot.earned_at, Lot.id).with_for_update().execution_options(populate_existing=True)
    )).scalars())
    if booking_id is not None:
        lots.sort(key=lambda lot: lot.booking_id != booking_id)
    left = points
    for lot in lots:
        if left == 0:
            break
        take = min(lot.remaining, left)
        lot.remaining -= take
        if expire:
            lot.expired += take
        left -= take
    if left:
        raise LedgerError(f"lots of {customer_id} are short by {left} points")


async def debit(
    session: AsyncSession, member: Member, *, kind: str, points: int, cause_type: str, cause_id: str | None,
    now: datetime, business_key: str | None = None, booking_id: str | None = None, reason: str | None = None,
    actor: str | None = None, note: str | None = None, earned_by: str | None = None,
) -> LedgerEntry:
    """Take `points` (> 0) from the balance and its lots."""
    if points <= 0:
        raise LedgerError("a debit takes at least one point")
    await consume(session, member.customer_id, points, booking_id=booking_id, expire=kind == "expire")
    return await write_entry(
        session, member, kind=kind, points=-points, cause_type=cause_type, cause_id=cause_id, now=now,
        business_key=business_key, reason=reason, actor=actor, note=note, earned_by=earned_by,
    )


async def entry_exists(session: AsyncSession, business_key: str) -> bool:
    return (
        await session.execute(select(LedgerEntry.id).where(LedgerEntry.business_key == business_key))
    ).first() is not None
