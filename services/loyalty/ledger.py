"""The ledger: writes entries and lots, moves balances, and announces each movement (the outbox).

Every function adds to the caller's transaction and never commits; the caller holds the account's lock.
`record` writes a `rules.Plan` (a batch of earnings, or one credit) with one multi-row INSERT per table;
`debit` takes points out (reversals, expiry, adjustments), FIFO by earn date.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty.models import Booking, Campaign, CampaignAward, LedgerEntry, Lot, Member, Offer, Referral
from services.loyalty.rules import Enrolment, Movement, Plan, TierChange
from shared.db import dialect_of
from shared.rows import rows_insert, rows_update, together
from shared.events import EventData, MemberEnrolled, PointsEarned, PointsExpired, PointsReversed, TierChanged
from shared.outbox import emit

_LOT = Lot.__table__


POINTS_MOVED = "loyalty_points_moved"  # session.info: [(transaction or savepoint, movement, points)] (points_counter)


class LedgerError(RuntimeError):
    """A movement that would break the ledger's invariants; nothing of it is written."""


def new_member(session: AsyncSession, customer_id: str, now: datetime, next_review_on: date, *,
               member_type: str = "individual", points_to: str = "account") -> Member:
    """A new member row, at the regular tier, and member-enrolled."""
    member = Member(customer_id=customer_id, member_type=member_type, points_to=points_to, tier="regular",
                    tier_since=now, next_review_on=next_review_on, enrolled_at=now, updated_at=now)
    session.add(member)
    emit(session, MemberEnrolled(customer_id=customer_id, member_type=member_type, tier="regular", enrolled_at=now),
         customer_id)
    return member


def movement(kind: str, points: int) -> str:
    """The movement of an entry (tourcrm_loyalty_points_total, the KPIs): a credit is earned; a debit is redeemed,
    expired or reversed."""
    if points > 0:
        return "earned"
    return {"redeem": "redeemed", "expire": "expired"}.get(kind, "reversed")


def _note(session: AsyncSession, kind: str, points: int) -> None:
    """An entry written in the session's current transaction or savepoint: counted if that commits."""
    if points:
        sync = session.sync_session
        scope = sync.get_nested_transaction() or sync.get_transaction()
        sync.info.setdefault(POINTS_MOVED, []).append((scope, movement(kind, points), abs(points)))


# --- a plan of credits ---------------------------------------------------------------------------


class _Rows:
    """Rows of a plan not yet written, and the events that follow them (entry ids are known once written)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.lots: list[dict[str, Any]] = []
        self.events: list[Any] = []  # event data, or (entry index, movement)
        self.written: list[int] = []  # ids of the entries written so far

    def add(self, m: Movement) -> None:
        if m.lot is not None:
            earned_at, expires_on, booking_id = m.lot
            self.lots.append(dict(customer_id=m.account, booking_id=booking_id, earned_at=earned_at,
                                  expires_on=expires_on, points=m.points, remaining=m.points, expired=0,
                                  entry=len(self.entries)))
        if m.event is not None:
            self.events.append((len(self.entries), m))
        self.entries.append(dict(customer_id=m.account, earned_by=m.earned_by, kind=m.kind, points=m.points,
                                 cause_type=m.cause_type, cause_id=m.cause_id, business_key=m.business_key,
                                 reason=m.reason, actor=m.actor, note=m.note, created_at=m.now))

    async def write(self, session: AsyncSession, *, lots_later: list[tuple[Any, Any]] | None = None) -> None:
        """Write the entries and then their lots (`lots_later`: add the lots' INSERT there instead, to run later)."""
        ids: list[int] = []
        dialect = dialect_of(session)
        if self.entries:  # table-level (Core) multi-row INSERTs: no ORM bookkeeping per row
            # ids are drawn in the rows' order: sorted, they are the rows' ids in order
            ids = sorted((await session.execute(
                *rows_insert(dialect, LedgerEntry.__table__, self.entries, returning=("id",)))).scalars())
        if self.lots:
            lots = [{name: value for name, value in lot.items() if name != "entry"} | {"entry_id": ids[lot["entry"]]}
                    for lot in self.lots]
            if lots_later is None:
                await session.execute(*rows_insert(dialect, _LOT, lots))
            else:
                lots_later.append(rows_insert(dialect, _LOT, lots))
        for entry in self.entries:
            _note(session, entry["kind"], entry["points"])
        for item in self.events:
            emit(session, *_announcement(item, ids))
        self.written += ids
        self.entries, self.lots, self.events = [], [], []


def _announcement(item: Any, ids: list[int]) -> tuple[EventData, str]:
    if not isinstance(item, tuple):
        return item, item.customer_id
    index, m = item
    fields = dict(customer_id=m.account, points=m.points, balance=m.balance, entry_id=str(ids[index]), cause=m.cause_id)
    if m.event == "reversed":
        return PointsReversed(**fields), m.account
    return PointsEarned(**fields, kind=m.event, referee_id=m.referee), m.account


async def record(session: AsyncSession, plan: Plan, members: dict[str, Member], *, campaigns: Iterable[Campaign] = (),
                 offers: Iterable[Offer] = (), referrals: Iterable[Referral] = ()) -> list[int]:
    """Write a plan: new members, entries and lots (a debt settlement takes its points from the lots FIFO),
    bookings and awards, the accounts' balances and tiers, campaigns, offers and referrals; then its events.
    Returns the ids of the entries written, in order."""
    rows = _Rows()
    enrolled: dict[str, dict[str, Any]] = {}
    for step in plan.steps:
        if isinstance(step, Enrolment):
            enrolled[step.customer_id] = _enrolment(session, step)
        elif isinstance(step, TierChange):
            rows.events.append(TierChanged(customer_id=step.account, old_tier=step.before, new_tier=step.after,
                                           reason=step.reason, changed_at=step.now))
        else:
            if step.settles:
                await rows.write(session)
                await session.execute(fifo_statement(), {"c": step.account, "p": step.settles})
            rows.add(step)
    # the last lots, bookings, awards and accounts: rows nobody reads before the commit, written together (on
    # PostgreSQL in one statement); a debt settlement above needed the lots before it written first
    writes: list[tuple[Any, Any]] = []
    await rows.write(session, lots_later=writes)
    dialect = dialect_of(session)
    if plan.bookings:
        writes.append(rows_insert(dialect, Booking.__table__, plan.bookings))
    if plan.awards:
        writes.append(rows_insert(dialect, CampaignAward.__table__, plan.awards))
    written = _account_writes(dialect, plan, members, enrolled, writes)
    for statement, params in together(dialect, writes):
        await session.execute(statement, params)
    for member, values in written:  # loaded copies: the values as committed, so the ORM flushes nothing for them
        for name, value in values.items():
            set_committed_value(member, name, value)
    _settle_rows(plan, campaigns, offers, referrals)
    return rows.written


def _enrolment(session: AsyncSession, step: Enrolment) -> dict[str, Any]:
    """A member enrolled by a plan, as the row `_account_writes` inserts, and member-enrolled (`new_member` as a
    row: no ORM object per new member on the consumer's path)."""
    emit(session, MemberEnrolled(customer_id=step.customer_id, member_type="individual", tier="regular",
                                 enrolled_at=step.now), step.customer_id)
    return dict(customer_id=step.customer_id, member_type="individual", account_id=None, organisation_id=None,
                points_to="account", tier="regular", tier_since=step.now, tier_override=None, tier_override_until=None,
                next_review_on=step.next_review_on, balance=0, debt=0, held=0, segments="[]", status="active",
                merged_into=None, enrolled_at=step.now, updated_at=step.now)


def _account_writes(dialect: str, plan: Plan, members: dict[str, Member], enrolled: dict[str, dict[str, Any]],
                    writes: list[tuple[Any, Any]]) -> list[tuple[Member, dict[str, Any]]]:
    """The plan's accounts' balances and tiers, added to `writes`: the members it enrolled inserted, the others
    updated, each by one statement for all of them. Returns the loaded members updated, with their new values."""
    rows: list[dict[str, Any]] = []
    written: list[tuple[Member, dict[str, Any]]] = []
    for account in plan.accounts.values():
        member = members.get(account.customer_id)
        values = dict(balance=account.balance, debt=account.debt, tier=account.tier, tier_since=account.tier_since,
                      updated_at=plan.steps[-1].now if plan.steps else member.updated_at)
        if account.customer_id in enrolled:
            enrolled[account.customer_id].update(values)
        else:
            rows.append({"customer_id": account.customer_id, **values})
            written.append((member, values))
    if enrolled:
        writes.append(rows_insert(dialect, Member.__table__, list(enrolled.values())))
    if rows:
        writes.append(rows_update(dialect, Member.__table__, "customer_id", rows))
    return written


def _settle_rows(plan: Plan, campaigns: Iterable[Campaign], offers: Iterable[Offer],
                 referrals: Iterable[Referral]) -> None:
    for campaign in campaigns:
        if campaign.id in plan.issued:
            campaign.issued = plan.issued[campaign.id]
            if campaign.budget is not None and campaign.issued >= campaign.budget:
                campaign.status = "exhausted"
                campaign.ended_at = campaign.ended_at or (plan.steps[-1].now if plan.steps else None)
    for offer in offers:
        if offer.id in plan.offers:
            offer.status, offer.booking_id = "used", plan.offers[offer.id]
    for referral in referrals:
        if referral.id in plan.referrals:
            referral.status = "awarded"
            referral.booking_id, referral.awarded_at = plan.referrals[referral.id]


@functools.cache
def fifo_statement() -> Any:
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


# --- single movements ----------------------------------------------------------------------------


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
    _note(session, kind, points)
    member.balance += points
    member.updated_at = now
    await session.flush()
    return entry


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


ANNOUNCE = {"reversed": PointsReversed, "expired": PointsExpired}


async def debit(
    session: AsyncSession, member: Member, *, kind: str, points: int, cause_type: str, cause_id: str | None,
    now: datetime, event: str | None = "reversed", cause: str | None = None, booking_id: str | None = None,
    **entry: Any,
) -> LedgerEntry:
    """Take `points` (> 0) from the balance and its lots, and announce it (`event`; `cause` in the event, default
    the cause id)."""
    if points <= 0:
        raise LedgerError("a debit takes at least one point")
    await consume(session, member.customer_id, points, booking_id=booking_id, expire=kind == "expire")
    written = await write_entry(session, member, kind=kind, points=-points, cause_type=cause_type, cause_id=cause_id,
                                now=now, **entry)
    if event is not None:
        emit(session, ANNOUNCE[event](customer_id=member.customer_id, points=-points, balance=member.balance,
                                      entry_id=str(written.id), cause=cause or cause_id), member.customer_id)
    return written


async def take_back(session: AsyncSession, account: Member, points: int, available: int, *, cause_type: str,
                    cause_id: str, business_key: str, now: datetime, reason: str, debt_note: str,
                    booking_id: str | None = None) -> int:
    """Reverse `points` credited earlier: what `available` covers now, the rest as debt that later credits
    settle (`debt_note`, formatted with {owed}, says so; a zero entry when nothing could be taken).
    Returns the points taken."""
    take = max(0, min(points, available))
    owed = points - take
    account.debt += owed
    note = debt_note.format(owed=owed) if owed else None
    if take:
        await debit(session, account, kind="reverse", points=take, cause_type=cause_type, cause_id=cause_id, now=now,
                    business_key=business_key, booking_id=booking_id, reason=reason, note=note)
    elif owed:
        await write_entry(session, account, kind="reverse", points=0, cause_type=cause_type, cause_id=cause_id,
                          business_key=business_key, now=now, reason=reason, note=note)
    return take
