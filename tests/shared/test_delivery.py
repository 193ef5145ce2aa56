"""Outbox → bus → inbox, the same cases on (MemoryBus + SQLite) and (KafkaBus + PostgreSQL)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
from collections import defaultdict

import pytest
from sqlalchemy import select

from shared import outbox
from shared.bus import MemoryBus, Record
from shared.db import transaction
from shared.events import BOOKINGS
from shared.inbox import DeadLetter, InboxRecord
from shared.outbox import OutboxRecord
from tests.conftest import REPO, Backend, at_least, capture_logs, equals, eventually
from tests.sample import app as sample
from tests.sample.app import SampleEffect, SampleGate, SampleOrder


async def place(runtime, customer: str, seqs, kind: str = "tour") -> None:  # noqa: ANN001
    for seq in seqs:
        async with transaction(runtime.sessions) as session:
            await sample.place_order(session, customer_id=customer, seq=seq, kind=kind)


async def effect_count(runtime) -> int:  # noqa: ANN001
    async with runtime.read_sessions() as session:
        return await sample.count(session, SampleEffect)


async def assert_each_applied_once(runtime, expected: set[str]) -> None:  # noqa: ANN001
    async with runtime.read_sessions() as session:
        effects = await sample.effects(session)
    booking_ids = [e.booking_id for e in effects]
    assert len(booking_ids) == len(set(booking_ids)), "an event was applied twice"
    assert set(booking_ids) == expected


async def test_state_change_and_its_events_commit_together_or_not_at_all(backend: Backend) -> None:
    runtime = await backend.runtime(sample.SPEC, await backend.database(), start=False)
    await runtime.start()
    await runtime.relay.stop()  # look at the outbox before anything is published

    with pytest.raises(RuntimeError):
        async with transaction(runtime.sessions) as session:
            await sample.place_order(session, customer_id="c1", seq=1)
            raise RuntimeError("the use case fails after adding its event")
    async with transaction(runtime.sessions) as session:
        await sample.place_order(session, customer_id="c1", seq=2)

    async with runtime.sessions() as session:
        orders = list((await session.execute(select(SampleOrder))).scalars())
        events = list((await session.execute(select(OutboxRecord))).scalars())
    assert [o.seq for o in orders] == [2]
    assert [json.loads(e.payload)["data"]["booking_id"] for e in events] == ["c1-000002"]
    assert events[0].published_at is None


@pytest.mark.parametrize("nested", ["outbox.savepoint", "session.begin_nested"])
async def test_events_of_a_rolled_back_savepoint_are_dropped_and_the_rest_kept(backend: Backend, nested: str) -> None:
    """A consumer redoing a batch event by event runs each in a savepoint: a failed event's outbox rows
    must go with it and those around it must stay (in their order, with `outbox.savepoint`)."""
    runtime = await backend.runtime(sample.SPEC, await backend.database(), start=False)
    await runtime.start()
    await runtime.relay.stop()
    begin = outbox.savepoint if nested == "outbox.savepoint" else (lambda session: session.begin_nested())

    async with transaction(runtime.sessions) as session:
        await sample.place_order(session, customer_id="c1", seq=1)
        with pytest.raises(RuntimeError):
            async with begin(session):
                await sample.place_order(session, customer_id="c1", seq=2)
                async with begin(session):  # released inside the failing one: goes with it
                    await sample.place_order(session, customer_id="c1", seq=3)
                raise RuntimeError("this event's handler fails")
        async with begin(session):
            await sample.place_order(session, customer_id="c1", seq=4)
        await sample.place_order(session, customer_id="c1", seq=5)

    async with runtime.sessions() as session:
        events = list((await session.execute(select(OutboxRecord).order_by(OutboxRecord.id))).scalars())
        orders = list((await session.execute(select(SampleOrder))).scalars())
    assert sorted(o.seq for o in orders) == [1, 4, 5]
    published = [json.loads(e.payload)["data"]["booking_id"] for e in events]
    if nested == "outbox.savepoint":
        assert published == ["c1-000001", "c1-000004", "c1-000005"]
    else:
        assert sorted(published) == ["c1-000001", "c1-000004", "c1-000005"]


async def test_event_committed_before_a_sigkill_is_published_after_restart(backend: Backend) -> None:
    url = await backend.database()
    runtime = await backend.runtime(sample.SPEC, url, start=False)
    await runtime.start()  # migrates; its consumer waits for events
    await runtime.relay.stop()

    proc = subprocess.run(
        [sys.executable, "-m", "tests.sample.main", "produce-and-die", url, "c-kill", "5"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert "committed" in proc.stdout
    async with runtime.sessions() as session:
        unpublished = (await session.execute(select(OutboxRecord).where(OutboxRecord.published_at.is_(None)))).all()
    assert len(unpublished) == 5

    await runtime.relay.start()  # the restarted process's relay
    await eventually(lambda: equals(effect_count(runtime), 5))
    await assert_each_applied_once(runtime, {sample.booking_id("c-kill", s) for s in range(5)})


async def test_record_delivered_twice_is_applied_once(backend: Backend) -> None:
    runtime = await backend.runtime(sample.SPEC, await backend.database())
    event = sample.order_event("c-dup", 1)
    record = Record(BOOKINGS, "c-dup", event.to_bytes())
    publisher = backend.bus()
    await publisher.publish([record, record])  # twice in one batch
    await eventually(lambda: equals(effect_count(runtime), 1))
    await publisher.publish([record])  # and again later
    second = sample.order_event("c-dup", 2)
    await publisher.publish([Record(BOOKINGS, "c-dup", second.to_bytes())])
    await eventually(lambda: equals(effect_count(runtime), 2))
    await asyncio.sleep(0.5)
    await assert_each_applied_once(runtime, {"c-dup-000001", "c-dup-000002"})
    assert runtime.metrics.events_duplicate.labels(consumer="sample", type="booking-completed")._value.get() >= 2


async def test_consumer_killed_mid_batch_resumes_without_loss_or_double_effect(backend: Backend) -> None:
    url = await backend.database()
    producer = await backend.runtime(sample.SPEC, url, start=False)
    await producer.start()
    total = 60
    if backend.is_kafka:
        # The producer side publishes; a separate consumer process with a slow handler is SIGKILLed mid-batch.
        await producer._bus_consumer.stop()  # noqa: SLF001
        await place(producer, "c-mid", range(total))
        await eventually(lambda: _outbox_drained(producer))
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.sample.main", "consume", url, backend.kafka_servers, backend.prefix, "0.05", "10"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            await eventually(lambda: at_least(effect_count(producer), 15), timeout=90)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        killed_at = await effect_count(producer)
        assert 15 <= killed_at < total
        restarted = await backend.runtime(sample.SPEC, url)  # the consumer comes back in the same group
    else:
        sample.SLOW["seconds"] = 0.05
        try:
            await producer._bus_consumer.stop()  # noqa: SLF001
            await place(producer, "c-mid", range(total))
            consumer = backend.memory_bus.consumer(
                "sample", producer.consumer.topics, producer.consumer.process_batch, metrics=producer.metrics, batch_size=10
            )
            await consumer.start()
            await eventually(lambda: at_least(effect_count(producer), 15), timeout=90)
            await asyncio.sleep(0.23)  # well inside a batch of 10 × 50 ms
            await consumer.stop()  # cancelled mid-batch: that batch's transaction never commits
            killed_at = await effect_count(producer)
            assert 15 <= killed_at < total
        finally:
            sample.SLOW["seconds"] = 0.0
        restarted = await backend.runtime(sample.SPEC, url)
    await eventually(lambda: equals(effect_count(restarted), total), timeout=90)
    await asyncio.sleep(0.5)
    await assert_each_applied_once(restarted, {sample.booking_id("c-mid", s) for s in range(total)})


async def test_a_consumer_stopped_after_its_batches_leaves_them_committed_for_its_successor(backend: Backend) -> None:
    """Offsets are committed while the next batch runs; a stop still waits for the last commit, so a successor in
    the group starts after what was applied instead of receiving it again."""
    url = await backend.database()
    first = await backend.runtime(sample.SPEC, url)
    await place(first, "c-stop", range(5))
    await eventually(lambda: equals(effect_count(first), 5))
    await first.stop()
    second = await backend.runtime(sample.SPEC, url, memory_bus_replay_seconds=0)  # embedded: no replay at start
    await place(second, "c-stop", [5])
    await eventually(lambda: equals(effect_count(second), 6))
    assert second.metrics.events_duplicate.labels(consumer="sample", type="booking-completed")._value.get() == 0
    await assert_each_applied_once(second, {sample.booking_id("c-stop", s) for s in range(6)})


async def test_order_per_customer_key_is_kept(backend: Backend) -> None:
    runtime = await backend.runtime(sample.SPEC, await backend.database())
    customers = ["alice", "bob", "carol"]
    for seq in range(40):
        for customer in customers:
            await place(runtime, customer, [seq])
    await eventually(lambda: equals(effect_count(runtime), 120))
    async with runtime.read_sessions() as session:
        effects = await sample.effects(session)
    seen: dict[str, list[str]] = defaultdict(list)
    for effect in effects:
        seen[effect.customer_id].append(effect.booking_id)
    for customer in customers:
        assert seen[customer] == [sample.booking_id(customer, s) for s in range(40)]
    metrics = runtime.metrics
    assert metrics.events_published.labels(type="booking-completed")._value.get() == 120
    assert metrics.events_consumed.labels(consumer="sample", type="booking-completed")._value.get() == 120


async def test_malformed_records_are_dead_lettered_with_a_reason_while_good_ones_flow(backend: Backend) -> None:
    runtime = await backend.runtime(sample.SPEC, await backend.database())
    good = [sample.order_event("c-good", s) for s in range(3)]
    wrong_schema = json.loads(sample.order_event("c-bad", 9).to_bytes())
    del wrong_schema["data"]["product"]
    wrong_version = json.loads(sample.order_event("c-bad", 10).to_bytes())
    wrong_version["dataschema"] = "tourcrm:booking-completed:99"
    unknown = json.loads(sample.order_event("c-bad", 11).to_bytes())
    unknown["type"] = "booking-teleported"
    not_ours = json.loads(sample.order_event("c-bad", 12).to_bytes())
    not_ours["type"], not_ours["dataschema"] = "customer-updated", "tourcrm:customer-updated:2"  # bad data, but
    # a type this consumer does not handle: that is for its own consumers to park, not this one
    records = [
        Record(BOOKINGS, "c-good", good[0].to_bytes()),
        Record(BOOKINGS, "c-bad", b"{not json"),
        Record(BOOKINGS, "c-bad", json.dumps(wrong_schema).encode()),
        Record(BOOKINGS, "c-good", good[1].to_bytes()),
        Record(BOOKINGS, "c-bad", json.dumps(unknown).encode()),
        Record(BOOKINGS, "c-bad", json.dumps(wrong_version).encode()),
        Record(BOOKINGS, "c-bad", json.dumps(not_ours).encode()),
        Record(BOOKINGS, "c-good", good[2].to_bytes()),
    ]
    await backend.bus().publish(records)
    await eventually(lambda: equals(effect_count(runtime), 3))
    await eventually(lambda: equals(_parked(runtime), 4))
    letters = await runtime.consumer.dead_letters()
    reasons = " | ".join(letter.error for letter in letters)
    assert "not JSON" in reasons
    assert "product: Field required" in reasons
    assert "unknown event type 'booking-teleported'" in reasons
    assert "unsupported dataschema" in reasons
    assert all(letter.topic == BOOKINGS and letter.offset >= 0 for letter in letters)

    outcomes = await runtime.consumer.replay()  # nothing about these records has changed
    assert all(o.startswith("still failing") for o in outcomes.values()) and len(outcomes) == 4
    assert len(await runtime.consumer.dead_letters()) == 4


async def test_handler_errors_are_logged_without_their_message(backend: Backend) -> None:
    runtime = await backend.runtime(sample.SPEC, await backend.database())
    with capture_logs() as logs:
        await place(runtime, "c-pii", [1], kind="poison")
        await eventually(lambda: equals(_parked(runtime), 1))
    [letter] = await runtime.consumer.dead_letters()
    assert "13800138000" in letter.error  # the dead letter keeps the reason, in the service's own database
    text = logs.getvalue()
    assert '"error_type": "ValueError"' in text and "record dead-lettered" in text
    assert "13800138000" not in text


async def test_a_failing_handler_is_retried_then_parked_and_replay_applies_it_once(backend: Backend) -> None:
    runtime = await backend.runtime(sample.SPEC, await backend.database())
    await place(runtime, "c-gate", [1], kind="gated")
    await place(runtime, "c-gate", [2])  # the consumer keeps going past the parked record
    await eventually(lambda: equals(effect_count(runtime), 1))
    await eventually(lambda: equals(_parked(runtime), 1))
    [letter] = await runtime.consumer.dead_letters()
    assert letter.attempts == runtime.settings.consumer_max_attempts
    assert "LookupError: product P-gated is not open yet" in letter.error
    assert runtime.metrics.events_failed.labels(consumer="sample", type="booking-completed")._value.get() == 3

    assert (await runtime.consumer.replay())[letter.id].startswith("still failing")
    async with transaction(runtime.sessions) as session:
        session.add(SampleGate(product_id="P-gated"))
    assert await runtime.consumer.replay() == {letter.id: "replayed"}
    assert await runtime.consumer.replay() == {}
    await assert_each_applied_once(runtime, {"c-gate-000001", "c-gate-000002"})
    async with runtime.sessions() as session:
        inbox = (await session.execute(select(InboxRecord).where(InboxRecord.event_id == letter.event_id))).all()
    assert len(inbox) == 1




async def _parked(runtime) -> int:  # noqa: ANN001
    async with runtime.read_sessions() as session:
        rows = await session.execute(select(DeadLetter).where(DeadLetter.status == "parked"))
        return len(rows.all())


async def _outbox_drained(runtime) -> bool:  # noqa: ANN001
    async with runtime.read_sessions() as session:
        rows = await session.execute(select(OutboxRecord).where(OutboxRecord.published_at.is_(None)))
        return not rows.all()


def consumed(runtime) -> float:  # noqa: ANN001
    return runtime.metrics.events_consumed.labels(consumer="sample", type="booking-completed")._value.get()


async def test_replicas_share_a_consumer_group_and_a_rebalance_loses_nothing(kafka_only: Backend) -> None:
    url = await kafka_only.database()
    first = await kafka_only.runtime(sample.SPEC, url, consumer_batch_size=20)
    second = await kafka_only.runtime(sample.SPEC, url, consumer_batch_size=20)
    customers = [f"c-{n}" for n in range(12)]  # keys spread over every partition
    seq = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not (consumed(first) > 0 and consumed(second) > 0):  # until the group has both members working
        assert loop.time() < deadline, "the second replica never got partitions"
        for customer in customers:
            await place(first, customer, [seq])
        seq += 1
        await asyncio.sleep(0.2)
    await second.stop()  # one replica leaves: its partitions move to the other
    for _ in range(5):
        for customer in customers:
            await place(first, customer, [seq])
        seq += 1
    await eventually(lambda: equals(effect_count(first), seq * len(customers)), timeout=120)
    await asyncio.sleep(1)
    await assert_each_applied_once(first, {sample.booking_id(c, s) for c in customers for s in range(seq)})


async def test_embedded_restart_redelivers_what_the_in_process_bus_lost(tmp_path) -> None:  # noqa: ANN001
    """The in-process log dies with the process: recent events are published again at start."""
    memory = Backend("memory", tmp_path, None, None)
    url = await memory.database()
    try:
        before = await memory.runtime(sample.SPEC, url)
        await before._bus_consumer.stop()  # noqa: SLF001 - the process dies before consuming
        await place(before, "c-crash", range(3))
        await eventually(lambda: _outbox_drained(before))
        assert await effect_count(before) == 0
        memory.memory_bus = MemoryBus()  # a new process: a new, empty in-process log
        after = await memory.runtime(sample.SPEC, url)
        await eventually(lambda: equals(effect_count(after), 3))
        await assert_each_applied_once(after, {sample.booking_id("c-crash", s) for s in range(3)})
    finally:
        await memory.close()


async def test_an_after_batch_hook_runs_once_per_batch_inside_its_transaction(backend: Backend) -> None:
    seen: list[int] = []

    async def count_new_effects(session) -> None:  # noqa: ANN001
        seen.append(sum(isinstance(o, SampleEffect) for o in session.new))

    spec = dataclasses.replace(sample.SPEC, after_batch=[count_new_effects])
    runtime = await backend.runtime(spec, await backend.database(), start=False)
    await runtime.start()
    await runtime._bus_consumer.stop()  # noqa: SLF001 - let events pile up, then consume them in batches
    await place(runtime, "c-hook", range(30))
    await eventually(lambda: _outbox_drained(runtime))
    consumer = runtime.bus.consumer("sample", runtime.consumer.topics, runtime.consumer.process_batch,
                                    metrics=runtime.metrics, batch_size=10)
    await consumer.start()
    try:
        await eventually(lambda: equals(effect_count(runtime), 30))
    finally:
        await consumer.stop()
    assert sum(seen) == 30  # the hook saw every effect, still pending in the batch's transaction
    assert 3 <= len(seen) < 30  # once per batch, not once per event
