"""A consumed batch's statements are planned for their own values, not by a generic plan cached when the tables were
nearly empty (shared.db.plan_for_arguments), on the fast path and when the batch is redone one event at a time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.bus import Record
from shared.consumer import EventConsumer
from shared.db import dialect_of, plan_for_arguments
from shared.events import BOOKINGS, BookingCompleted, Event
from tests.conftest import Backend
from tests.sample import app as sample


async def _plan_mode(session: AsyncSession) -> str:
    if dialect_of(session) != "postgresql":
        return "sqlite"
    return (await session.execute(text("SHOW plan_cache_mode"))).scalar_one()


def _record(customer: str, seq: int) -> Record:
    return Record(BOOKINGS, customer, sample.order_event(customer, seq).to_bytes())


async def test_a_consumed_batch_plans_its_statements_for_their_values_in_both_paths(backend: Backend) -> None:
    runtime = await backend.runtime(sample.SPEC, await backend.database())
    seen: list[tuple[str, bool]] = []  # (plan cache mode, in the careful path's savepoint)

    async def handler(event: Event[BookingCompleted], session: AsyncSession) -> None:
        seen.append((await _plan_mode(session), session.in_nested_transaction()))
        if event.data.booking_id.endswith("1") and not session.in_nested_transaction():
            raise RuntimeError("fails in the batch: the batch is redone one event at a time")

    subscriptions: dict[Any, Any] = {BookingCompleted: [handler]}
    consumer = EventConsumer(name="plans", sessions=runtime.sessions, subscriptions=subscriptions,
                             metrics=runtime.metrics)
    await consumer.process_batch([_record("c-p", 0)])  # the fast path
    await consumer.process_batch([_record("c-p", 2), _record("c-p", 1)])  # fails, then one event at a time

    expected = "sqlite" if not backend.is_kafka else "force_custom_plan"
    assert (expected, False) in seen and (expected, True) in seen
    assert {mode for mode, _ in seen} == {expected}
    async with runtime.sessions() as session, session.begin():  # only that transaction: others keep the default
        await plan_for_arguments(session)
        assert await _plan_mode(session) == expected
    async with runtime.sessions() as session, session.begin():
        assert await _plan_mode(session) in {"sqlite", "auto"}
