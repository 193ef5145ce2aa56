"""The outbox keeps published events for a week (a replay window for ops), then the relay deletes them, on a clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from shared.db import transaction, utcnow
from shared.outbox import OutboxRecord
from tests.conftest import Backend
from tests.sample import app as sample


async def outbox_rows(runtime) -> dict[str, object]:  # noqa: ANN001 - event id → published_at
    async with runtime.read_sessions() as session:
        return dict((await session.execute(select(OutboxRecord.event_id, OutboxRecord.published_at))).all())


async def publish_at(runtime, event_id: str, days_ago: float | None) -> None:  # noqa: ANN001
    moment = None if days_ago is None else utcnow() - timedelta(days=days_ago)
    async with transaction(runtime.sessions) as session:
        await session.execute(update(OutboxRecord).where(OutboxRecord.event_id == event_id).values(published_at=moment))


async def test_published_events_older_than_a_week_are_deleted_at_most_once_a_minute(backend: Backend) -> None:
    runtime = await backend.runtime(sample.SPEC, await backend.database(), start=False)
    await runtime.start()
    await runtime.relay.stop()  # this test publishes by hand
    relay = runtime.relay
    for seq in (1, 2, 3):
        async with transaction(runtime.sessions) as session:
            await sample.place_order(session, customer_id="c1", seq=seq)
    old, recent, waiting = sorted(await outbox_rows(runtime))
    await publish_at(runtime, old, days_ago=8)
    await publish_at(runtime, recent, days_ago=6)

    now = asyncio.get_running_loop().time()
    await relay.observe_and_trim(at=now)
    assert set(await outbox_rows(runtime)) == {recent, waiting}  # unpublished events are never trimmed

    await publish_at(runtime, recent, days_ago=8)
    await relay.observe_and_trim(at=now + relay.TRIM_EVERY - 1)
    assert set(await outbox_rows(runtime)) == {recent, waiting}  # not again within the minute
    await relay.observe_and_trim(at=now + relay.TRIM_EVERY)
    assert set(await outbox_rows(runtime)) == {waiting}
