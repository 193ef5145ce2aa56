"""Faults in the consumer path, on (MemoryBus + SQLite) and (KafkaBus + PostgreSQL): whatever fails, for
one event or for the consumer's loop, the event is parked with its reason and the stream goes on."""

from __future__ import annotations

from collections import defaultdict

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from shared.app import build_app
from shared.bus import Record
from shared.events import BOOKINGS
from shared.inbox import InboxRecord
from tests.conftest import Backend, equals, eventually
from tests.sample import app as sample
from tests.sample import faults
from tests.shared.test_delivery import _parked, effect_count

# stage → (product kind, completed_at, what the dead letter says)
STAGES = {
    "handler": ("poison", None, "ValueError: poison product"),
    "after-batch hook": ("overflow", None, "OverflowError"),
    "outbox write at commit": ("echo-twice", None, "IntegrityError"),
    "commit": ("unsaveable", None, "RuntimeError: commit refused"),
}


def lag(runtime) -> float:  # noqa: ANN001
    """The consumer lag over every partition, as /metrics says it."""
    [metric] = runtime.metrics.consumer_lag.collect()
    return sum(sample.value for sample in metric.samples)


async def lag_is(runtime, expected: float) -> bool:  # noqa: ANN001
    return lag(runtime) == expected


def record(customer: str, seq: int, kind: str = "tour", completed_at=None) -> Record:  # noqa: ANN001
    return Record(BOOKINGS, customer, sample.order_event(customer, seq, kind, completed_at).to_bytes())


async def applied_by_customer(runtime) -> dict[str, list[str]]:  # noqa: ANN001
    async with runtime.read_sessions() as session:
        effects = await sample.effects(session)
    seen: dict[str, list[str]] = defaultdict(list)
    for effect in effects:
        seen[effect.customer_id].append(effect.booking_id)
    return dict(seen)


@pytest.mark.parametrize("stage", STAGES)
async def test_an_event_failing_in_any_stage_is_parked_and_the_rest_of_its_batch_applied(
    backend: Backend, stage: str
) -> None:
    kind, completed_at, reason = STAGES[stage]
    faults.HOOK_SAW.clear()
    poisoned = sample.order_event("c-a", 1, kind, completed_at)
    # published before the consumer starts, so that they come in one batch
    await backend.bus().publish([
        record("c-a", 0), record("c-b", 0), Record(BOOKINGS, "c-a", poisoned.to_bytes()),
        record("c-a", 2), record("c-b", 1),
    ])
    runtime = await backend.runtime(faults.FAULTY, await backend.database())

    await eventually(lambda: equals(effect_count(runtime), 4))
    await eventually(lambda: equals(_parked(runtime), 1))
    [letter] = await runtime.consumer.dead_letters()
    assert letter.event_id == poisoned.id and letter.event_type == "booking-completed"
    assert reason in letter.error
    assert letter.attempts == runtime.settings.consumer_max_attempts
    assert await applied_by_customer(runtime) == {
        "c-a": [sample.booking_id("c-a", 0), sample.booking_id("c-a", 2)],
        "c-b": [sample.booking_id("c-b", 0), sample.booking_id("c-b", 1)],
    }
    async with runtime.read_sessions() as session:
        assert await session.get(InboxRecord, ("sample", poisoned.id)) is None
    for customer, seq in [("c-a", 0), ("c-b", 0), ("c-a", 2), ("c-b", 1)]:
        assert [sample.booking_id(customer, seq)] in faults.HOOK_SAW  # its hook ran with its own notes only
    assert runtime.metrics.events_dead_lettered.labels(consumer="sample", type="booking-completed")._value.get() == 1
    await eventually(lambda: lag_is(runtime, 0))


async def test_a_consumer_loop_killed_from_inside_fails_readiness_and_comes_back(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = build_app(sample.SPEC, backend.settings(await backend.database()), bus=backend.bus())
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sample"
    ) as client:
        runtime = app.state.runtime
        assert (await client.get("/health/ready")).status_code == 200
        broken = {"on": True}
        # an error where the loop has no error handling of its own: fetching records
        if backend.is_kafka:
            getmany = AIOKafkaConsumer.getmany

            async def fetch(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
                if broken["on"]:
                    raise RuntimeError("injected: the fetch fails")
                return await getmany(self, *args, **kwargs)

            monkeypatch.setattr(AIOKafkaConsumer, "getmany", fetch)
        else:
            consumer = runtime._bus_consumer  # noqa: SLF001
            next_batch = consumer._next_batch  # noqa: SLF001

            def fetch():  # noqa: ANN202
                if broken["on"]:
                    raise RuntimeError("injected: the fetch fails")
                return next_batch()

            monkeypatch.setattr(consumer, "_next_batch", fetch)

        async def not_ready() -> bool:
            answer = await client.get("/health/ready")
            return answer.status_code == 503 and answer.json()["checks"]["consumer:sample"] != "ok"

        await eventually(not_ready, interval=0.02)
        broken["on"] = False
        await eventually(lambda: _ready(client), timeout=30)
        await backend.bus().publish([record("c-back", 1)])
        await eventually(lambda: equals(effect_count(runtime), 1))
        assert runtime.metrics.consumer_restarts.labels(group="sample")._value.get() >= 1


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/health/ready")).status_code == 200


async def test_a_booking_that_cannot_be_true_is_parked_at_once_with_the_same_rule_as_the_http_door(
    backend: Backend,
) -> None:
    """Records on the bus meet the rules of the HTTP ingest: a booking completed days from now is parked,
    not retried, with the field and the reason; the bookings around it apply."""
    from datetime import datetime, timedelta, timezone

    future = sample.order_event("c-f", 1, completed_at=datetime.now(timezone.utc) + timedelta(days=3))
    await backend.bus().publish([record("c-f", 0), Record(BOOKINGS, "c-f", future.to_bytes()), record("c-f", 2)])
    runtime = await backend.runtime(sample.SPEC, await backend.database())
    await eventually(lambda: equals(effect_count(runtime), 2))
    await eventually(lambda: equals(_parked(runtime), 1))
    [letter] = await runtime.consumer.dead_letters()
    assert letter.event_id == future.id and "completed_at is in the future" in letter.error
    assert letter.attempts == 1
