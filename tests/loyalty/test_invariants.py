"""Property: for any sequence of earn, hold, capture, release, cancel, expire and adjust,
balance = sum of entries ≥ 0, held ≤ balance, debt ≥ 0, and the lots hold exactly the balance.

The use cases run on the real database of a running service (both backends), with an explicit clock.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from services.loyalty import bonuses, earning, expiry, redemptions, repository
from services.loyalty.models import LedgerEntry, Lot, Member, Redemption
from shared.db import transaction
from shared.errors import Problem
from shared.lane import lane
from shared.outbox import OutboxRecord
from tests.conftest import Backend
from tests.loyalty.support import cancelled, completed

OPS = st.one_of(
    st.tuples(st.just("earn"), st.integers(0, 3000)),
    st.tuples(st.just("hold"), st.integers(1, 2500)),
    st.tuples(st.just("capture"), st.integers(0, 9)),
    st.tuples(st.just("release"), st.integers(0, 9)),
    st.tuples(st.just("cancel"), st.integers(0, 9)),
    st.tuples(st.just("expire"), st.integers(1, 30)),  # months to move the clock forward
    st.tuples(st.just("adjust"), st.integers(-2000, 2000).filter(bool)),
)
counter = itertools.count()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(OPS, min_size=1, max_size=18))
async def test_any_sequence_keeps_the_ledger_whole(backend: Backend, ops: list[tuple[str, int]]) -> None:
    if not hasattr(backend, "_loyalty"):
        backend._loyalty = await backend.service("loyalty")  # noqa: SLF001 - one service for all examples
    runtime = backend._loyalty.runtime  # noqa: SLF001
    customer = f"c-prop-{next(counter)}"
    clock = datetime(2024, 1, 1, 4, tzinfo=timezone.utc)
    bookings: list[str] = []
    holds: list[str] = []
    for op, arg in ops:
        clock += timedelta(minutes=5)
        before = await written(runtime, customer)
        try:
            if op == "hold":  # as the API does: the fast lane, else the general path
                try:
                    async with lane(runtime.engine) as tx:
                        holds.append((await redemptions.fast_cash_hold(tx, customer, clock, points=arg, booking_id=None)).id)
                    held_fast = True
                except redemptions.NotFast:
                    held_fast = False
            if op in ("capture", "release") and holds:
                async with lane(runtime.engine) as tx:
                    fn = redemptions.capture if op == "capture" else redemptions.release
                    await fn(tx, holds[arg % len(holds)], clock)
            async with transaction(runtime.sessions) as s:
                if op == "earn":
                    booking = f"{customer}-b{len(bookings)}"
                    bookings.append(booking)
                    await earning.earn(s, [(completed(customer, booking, f"{arg}.00", at=clock), clock)])
                elif op == "hold" and not held_fast:
                    holds.append((await redemptions.create_hold(s, customer, clock, points=arg, reward_id=None,
                                                            booking_id=None)).id)
                elif op == "cancel" and bookings:
                    await earning.cancel_booking(s, cancelled(customer, bookings[arg % len(bookings)]), clock)
                elif op == "expire":
                    clock += timedelta(days=30 * arg)
                    await redemptions.expire_holds(s, clock)
                    await expiry.expire_points(s, clock)
                elif op == "adjust":
                    await bonuses.adjust(s, customer, arg, "property test", "tester", clock)
        except Problem as problem:
            assert problem.status in (404, 409, 422), problem  # refused cleanly, nothing written:
            assert await written(runtime, customer) == before, (op, arg, problem)
        await check(runtime, customer, clock)


async def written(runtime, customer: str) -> tuple:  # noqa: ANN001
    """Everything a movement of the customer's points writes: ledger entries, lots (and their state),
    redemptions (and their state), the member row and the outbox events about the customer."""
    async with runtime.read_sessions() as s:
        entries = (await s.execute(select(LedgerEntry.id, LedgerEntry.points).where(LedgerEntry.customer_id == customer)
                                   .order_by(LedgerEntry.id))).all()
        lots = (await s.execute(select(Lot.id, Lot.remaining, Lot.expired).where(Lot.customer_id == customer)
                                .order_by(Lot.id))).all()
        holds = (await s.execute(select(Redemption.id, Redemption.status).where(Redemption.customer_id == customer)
                                 .order_by(Redemption.id))).all()
        member = (await s.execute(select(Member.balance, Member.held, Member.debt, Member.tier)
                                  .where(Member.customer_id == customer))).all()
        events = (await s.execute(select(func.count()).select_from(OutboxRecord)
                                  .where(OutboxRecord.key == customer))).scalar_one()
    return [tuple(r) for r in entries], [tuple(r) for r in lots], [tuple(r) for r in holds], \
        [tuple(r) for r in member], events


async def check(runtime, customer: str, now: datetime) -> None:  # noqa: ANN001
    async with runtime.read_sessions() as s:
        member = await s.get(Member, customer)
        if member is None:
            return
        entries = (await s.execute(select(func.coalesce(func.sum(LedgerEntry.points), 0))
                                   .where(LedgerEntry.customer_id == customer))).scalar_one()
        lots = (await s.execute(select(func.coalesce(func.sum(Lot.remaining), 0), func.coalesce(func.min(Lot.remaining), 0))
                                .where(Lot.customer_id == customer))).one()
        held = await repository.held(s, customer, now)
        reserved = (await s.execute(select(func.coalesce(func.sum(Redemption.points), 0))
                                    .where(Redemption.customer_id == customer, Redemption.status == "held"))).scalar_one()
    assert member.balance == int(entries) >= 0
    assert int(lots[0]) == member.balance and int(lots[1]) >= 0
    assert 0 <= held <= member.balance
    assert member.held == int(reserved) >= held  # live holds, and expired ones not yet swept
    assert member.debt >= 0
