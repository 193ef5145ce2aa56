"""Redemptions: a hold reserves points at checkout; captured when paid, released when abandoned, or expired.

The hot paths (the points-as-cash hold, capture, release) run in the fast lane (shared.lane) with statements
built once (functools.cache: the same statement object each time, compiled once per dialect), taking the
member's row lock last so that only COMMIT (or one statement and COMMIT) follows it. Rewards, family and
enterprise accounts and short balances take the general path, `create_hold`, in an ORM session.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import points_counter, repository
from services.loyalty.ledger import fifo_statement
from services.loyalty.models import LedgerEntry, Member, Redemption, Reward
from services.loyalty.programme import Programme
from shared import outbox
from shared.db import aware, new_id
from shared.errors import Conflict, NotFound, Unprocessable
from shared.events import EventData, PointsRedeemed, RewardRedeemed, new_event
from shared.lane import Lane, next_id

SOURCE = "tourcrm/loyalty"
_R, _M, _E, _REWARD = Redemption.__table__, Member.__table__, LedgerEntry.__table__, Reward.__table__
_NOW = bindparam("now", type_=_R.c.expires_at.type)


class NotFast(Exception):  # noqa: N818 - a signal, not a failure
    """The fast lane does not apply (another account pays, or the points look short): take the general path."""


async def _reward_cost(session: AsyncSession, account: Member, reward_id: str, now: datetime) -> Reward:
    """The reward, locked, if this account may take one more of it now."""
    reward = await session.get(Reward, reward_id, with_for_update=True, populate_existing=True)
    if reward is None or not reward.active:
        raise Unprocessable(f"unknown or inactive reward {reward_id}", field="reward_id")
    if reward.stock is not None and reward.stock <= 0:
        raise Conflict(f"reward {reward_id} is out of stock", code="out_of_stock")
    if reward.per_member_limit is not None:
        taken = (await session.execute(select(func.count()).where(
            Redemption.customer_id == account.customer_id, Redemption.reward_id == reward_id,
            (Redemption.status == "captured") | ((Redemption.status == "held") & (Redemption.expires_at > now)),
        ))).scalar_one()
        if taken >= reward.per_member_limit:
            raise Conflict(f"the limit of {reward.per_member_limit} per member is reached", code="limit_reached")
    return reward


async def create_hold(session: AsyncSession, customer_id: str, now: datetime, *, points: int | None,
                      reward_id: str | None, booking_id: str | None) -> Redemption:
    """Reserve points at checkout, the general path (rewards, family and enterprise accounts, a short balance
    that expired holds may free). The account row is locked, so concurrent holds can never overdraw."""
    _, prog = await repository.programme(session)
    _, account = await repository.require_account(session, customer_id)
    reward = None if reward_id is None else await _reward_cost(session, account, reward_id, now)
    cost = reward.points if reward is not None else points
    assert cost is not None
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
    cash_value = None if reward is not None else prog.cash_value(cost)
    redemption = Redemption(
        id=new_id(), customer_id=account.customer_id, kind=reward.kind if reward else "cash", points=cost,
        reward_id=reward_id, booking_id=booking_id, cash_value=cash_value,
        currency=prog.currency if cash_value is not None else None, status="held",
        expires_at=now + timedelta(minutes=prog.hold_minutes), created_at=now,
    )
    session.add(redemption)
    await session.flush()
    return redemption


async def fast_cash_hold(
    tx: Lane, customer_id: str, now: datetime, *, points: int, booking_id: str | None,
    claim: Callable[[SimpleNamespace], Awaitable[None]] | None = None,
) -> SimpleNamespace:
    """Points-as-cash for a member who is their own account, in the fast lane: `claim(hold)` (the caller's
    Idempotency-Key, stored with its answer), the hold's row, then one conditional
    `UPDATE … SET held = held + points WHERE balance - held >= points` that takes the member's lock
    last, so that only COMMIT follows it. Raises NotFast when that matched no row: the caller rolls
    back and runs `create_hold`, which decides (and words a refusal)."""
    current = await tx.row(repository.CURRENT)
    hold = cash_hold_row(repository.parse_programme(current["config"] if current else None), customer_id, now,
                         points=points, booking_id=booking_id)
    if claim is not None:
        await claim(hold)
    await tx.run(_hold_statement(), vars(hold))
    if await tx.row(_take_statement(), {"c": customer_id, "p": points, "now": now}) is None:
        raise NotFast
    return hold


def cash_hold_row(prog: Programme, customer_id: str, now: datetime, *, points: int,
                  booking_id: str | None) -> SimpleNamespace:
    """A new points-as-cash hold, priced by `prog`, as a plain row (every column of loyalty_redemption)."""
    return SimpleNamespace(
        id=new_id(), customer_id=customer_id, kind="cash", points=points, reward_id=None, booking_id=booking_id,
        cash_value=prog.cash_value(points), currency=prog.currency, status="held",
        expires_at=now + timedelta(minutes=prog.hold_minutes), created_at=now, settled_at=None, entry_id=None)


@functools.cache
def _hold_statement() -> Any:
    return insert(_R)


@functools.cache
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


@functools.cache
def _claim_statement(dialect: str, status: str) -> Any:
    where = [_R.c.id == bindparam("rid"), _R.c.status == "held"]
    values: dict[str, Any] = {"status": status, "settled_at": _NOW}
    if status == "captured":
        where.append(_R.c.expires_at > _NOW)
        values["entry_id"] = next_id(_E.c.id, dialect)  # the capture's entry id, claimed with the hold
    return update(_R).where(*where).values(**values).returning(*_R.c)


async def _claim(tx: Lane, redemption_id: str, now: datetime, status: str) -> SimpleNamespace | None:
    """Move a live hold to `status` with one conditional UPDATE (the redemption's row lock, not the member's).

    None when the hold is not (or no longer) held: the caller answers by its state."""
    row = await tx.row(_claim_statement(tx.dialect, status), {"rid": redemption_id, "now": now})
    return None if row is None else SimpleNamespace(**row)  # a plain row: building a SQLModel costs ~0.1 ms


@functools.cache
def _redemption_statement() -> Any:
    return select(_R).where(_R.c.id == bindparam("rid"))


async def _unclaimed(tx: Lane, redemption_id: str, now: datetime, action: str, done: tuple[str, ...]) -> SimpleNamespace:
    """Why a claim matched nothing: the redemption is unknown, settled already (idempotent answer) or expired."""
    row = await tx.row(_redemption_statement(), {"rid": redemption_id})
    if row is None:
        raise NotFound("redemption", redemption_id)
    redemption = SimpleNamespace(**row)
    if redemption.status in done:
        return redemption
    if redemption.status == "held" and aware(redemption.expires_at) <= now:
        raise Conflict(f"the hold expired at {redemption.expires_at.isoformat()}; redeem again", hold_status="expired")
    raise Conflict(f"redemption {redemption_id} is {redemption.status}; it cannot be {action}",
                   hold_status=redemption.status)


@functools.cache
def _spend_statement() -> Any:
    points = bindparam("p", type_=_M.c.balance.type)
    return (update(_M).where(_M.c.customer_id == bindparam("c"), _M.c.status == "active", _M.c.held >= points,
                             _M.c.balance >= points)
            .values(balance=_M.c.balance - points, held=_M.c.held - points, updated_at=_NOW).returning(_M.c.balance))


@functools.cache
def _unhold_statement() -> Any:
    return (update(_M).where(_M.c.customer_id == bindparam("c"))
            .values(held=_M.c.held - bindparam("p", type_=_M.c.held.type), updated_at=_NOW))


@functools.cache
def _entry_statement() -> Any:
    return insert(_E)


@functools.cache
def _member_status_statement() -> Any:
    return select(_M.c.status).where(_M.c.customer_id == bindparam("c"))


def _envelope(data: EventData, subject: str) -> Any:
    return new_event(data, source=SOURCE, subject=subject)


async def capture(tx: Lane, redemption_id: str, now: datetime) -> SimpleNamespace:
    """Capture a hold, in the fast lane. Everything that does not need the member's lock is written first
    (the hold's state, the ledger entry); the member row is locked last, by the UPDATE that moves its
    balance, and one statement follows it before COMMIT: the FIFO lot update with the event (PostgreSQL)."""
    redemption = await _claim(tx, redemption_id, now, "captured")
    if redemption is None:
        return await _unclaimed(tx, redemption_id, now, "captured", ("captured",))
    account, points, entry_id = redemption.customer_id, redemption.points, redemption.entry_id
    await tx.run(_entry_statement(), {
        "id": entry_id, "customer_id": account, "kind": "redeem", "points": -points, "cause_type": "redemption",
        "cause_id": redemption.id, "business_key": f"redeem:{redemption.id}", "created_at": now,
        "reason": f"{redemption.kind} for booking {redemption.booking_id}"[:500],
    })
    if redemption.reward_id:
        await outbox.write(tx, _envelope(RewardRedeemed(
            customer_id=account, reward_id=redemption.reward_id, redemption_id=redemption.id, points=points), account))
    # the member's lock, taken last: held points become spent ones; no row = the account cannot pay
    spent = await tx.row(_spend_statement(), {"c": account, "p": points, "now": now})
    if spent is None:
        member = await tx.row(_member_status_statement(), {"c": account})
        if member is None or member["status"] != "active":
            raise Conflict("the member's account is closed")
        raise Conflict(f"the account cannot pay this hold of {points} points", code="insufficient_points")
    redeemed = PointsRedeemed(customer_id=account, points=-points, balance=spent["balance"], entry_id=str(entry_id),
                              cause=redemption.booking_id, redemption_id=redemption.id)
    # the lots (FIFO, now under the member's lock) and the event: one statement on PostgreSQL, then COMMIT
    await outbox.write(tx, _envelope(redeemed, account), along=fifo_statement(), params={"c": account, "p": points})
    tx.on_commit.append(points_counter.on_commit("redeem", -points))
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
    await tx.run(_unhold_statement(), {"c": redemption.customer_id, "p": redemption.points, "now": now})
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
