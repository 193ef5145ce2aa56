"""Records as other producers write them to Kafka — a plain aiokafka producer, the CloudEvents SDK — and
what the consumer makes of them: applied, or parked with the reason while the stream goes on."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaProducer
from cloudevents.core.bindings.kafka import to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent

from shared.db import transaction
from shared.events import BOOKINGS
from tests.conftest import Backend, equals, eventually
from tests.sample import app as sample
from tests.sample.app import SampleGate
from tests.shared.test_consumer_faults import applied_by_customer, lag_is, record
from tests.shared.test_delivery import _parked, effect_count


@contextlib.asynccontextmanager
async def plain_producer(backend: Backend) -> AsyncIterator[AIOKafkaProducer]:
    """Not the project's producer: nothing is added to what the test sends."""
    await backend.bus().ensure_topics([BOOKINGS])
    producer = AIOKafkaProducer(bootstrap_servers=backend.kafka_servers)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


def event_bytes(customer: str, seq: int, **changes: object) -> bytes:
    envelope = json.loads(sample.order_event(customer, seq).to_bytes())
    envelope.update(changes)
    return json.dumps(envelope).encode()


async def test_every_malformed_record_is_parked_with_its_reason_and_the_records_behind_it_apply(
    kafka_only: Backend,
) -> None:
    runtime = await kafka_only.runtime(sample.SPEC, await kafka_only.database())
    bad_data = json.loads(event_bytes("c-bad", 7))
    del bad_data["data"]["product"]
    malformed = [  # (key, value, headers, what the dead letter says)
        (b"\xff\xfe", event_bytes("c-bad", 1), [], "record key is not UTF-8"),
        (b"c-bad", None, [], "record has no value"),
        (b"k" * 300, event_bytes("c-bad", 3), [], "record key is longer than 200 characters"),
        (b"c-bad", event_bytes("c-bad", 4), [("trace", None)], "header 'trace' has no value"),
        (b"c-bad", b"{not json", [], "record is not JSON"),
        (b"c-bad", event_bytes("c-bad", 6, type="booking-teleported"), [], "unknown event type 'booking-teleported'"),
        (b"c-bad", json.dumps(bad_data).encode(), [], "product: Field required"),
    ]
    topic = kafka_only.prefix + BOOKINGS
    async with plain_producer(kafka_only) as producer:
        for seq, (key, value, headers, _) in enumerate(malformed):
            await producer.send_and_wait(topic, value=value, key=key, headers=headers, partition=0)
            await producer.send_and_wait(topic, value=event_bytes("c-p0", seq), key=b"c-p0", partition=0)
            await producer.send_and_wait(topic, value=event_bytes("c-p1", seq), key=b"c-p1", partition=1)

    await eventually(lambda: equals(effect_count(runtime), 2 * len(malformed)))
    await eventually(lambda: equals(_parked(runtime), len(malformed)))
    assert await applied_by_customer(runtime) == {
        customer: [sample.booking_id(customer, seq) for seq in range(len(malformed))] for customer in ("c-p0", "c-p1")
    }
    letters = {letter.offset: letter for letter in await runtime.consumer.dead_letters()}
    assert sorted(letters) == [2 * n for n in range(len(malformed))]  # every other record of partition 0
    for n, (_, value, _, reason) in enumerate(malformed):
        letter = letters[2 * n]
        assert reason in letter.error, (reason, letter.error)
        assert letter.payload == (value or b"") and letter.partition == 0
    assert letters[0].key.startswith("sha256:") and letters[4].key.startswith("sha256:")
    assert json.loads(letters[6].headers) == [["trace", None]]
    assert letters[12].event_type == "booking-completed" and letters[12].event_id == bad_data["id"]
    counted = sum(s.value for s in runtime.metrics.events_dead_lettered.collect()[0].samples if s.name.endswith("_total"))
    assert counted == len(malformed)  # letters stored, not attempts
    await eventually(lambda: lag_is(runtime, 0))


def sdk_event(customer: str, seq: int, kind: str = "tour") -> CloudEvent:
    """The event as a producer using the official CloudEvents SDK makes it."""
    envelope = sample.order_event(customer, seq, kind)
    attributes = {"id": envelope.id, "type": envelope.type, "source": "booking-web", "subject": customer,
                  "dataschema": envelope.dataschema, "partitionkey": customer}
    return CloudEvent(attributes, envelope.data)


async def test_cloudevents_in_binary_and_structured_mode_are_applied_and_a_parked_binary_one_replays(
    kafka_only: Backend,
) -> None:
    runtime = await kafka_only.runtime(sample.SPEC, await kafka_only.database())
    sent = [(to_binary_event, "tour"), (to_structured_event, "tour"), (to_binary_event, "gated"), (to_binary_event, "tour")]
    async with plain_producer(kafka_only) as producer:
        for seq, (mode, kind) in enumerate(sent):
            message = mode(sdk_event("c-ce", seq, kind))
            key = message.key.encode() if isinstance(message.key, str) else message.key
            await producer.send_and_wait(kafka_only.prefix + BOOKINGS, value=message.value, key=key,
                                         headers=list(message.headers.items()))

    await eventually(lambda: equals(effect_count(runtime), 3))
    await eventually(lambda: equals(_parked(runtime), 1))
    [letter] = await runtime.consumer.dead_letters()
    assert "LookupError" in letter.error and letter.event_type == "booking-completed"
    assert any(name == "ce_type" for name, _ in json.loads(letter.headers))
    async with transaction(runtime.sessions) as session:
        session.add(SampleGate(product_id="P-gated"))
    assert await runtime.consumer.replay() == {letter.id: "replayed"}  # read again with its headers
    assert await applied_by_customer(runtime) == {"c-ce": [sample.booking_id("c-ce", s) for s in (0, 1, 3, 2)]}


async def test_the_lag_of_a_stalled_consumer_shows_without_a_commit(kafka_only: Backend) -> None:
    runtime = await kafka_only.runtime(sample.SPEC, await kafka_only.database(), start=False)
    runtime.bus.lag_interval = 0.3
    await runtime.start()
    bus_consumer = runtime._bus_consumer  # noqa: SLF001
    handler = bus_consumer.handler

    async def database_down(records: list) -> None:
        raise ConnectionError("injected: the database is down")

    bus_consumer.handler = database_down  # every batch fails and is delivered again: nothing commits
    await kafka_only.bus().publish([record(f"c-{n}", 0) for n in range(5)])
    await eventually(lambda: lag_is(runtime, 5), timeout=20)
    bus_consumer.handler = handler
    await eventually(lambda: equals(effect_count(runtime), 5))
    await eventually(lambda: lag_is(runtime, 0))


async def test_a_record_the_kafka_client_cannot_read_is_parked_and_every_partition_goes_on(kafka_only: Backend) -> None:
    """A header name that is not UTF-8, written by kcat (librdkafka): aiokafka fails inside getmany for the whole
    consumer, on every poll. The consumer finds the record, parks it with the reason, and goes on."""
    runtime = await kafka_only.runtime(sample.SPEC, await kafka_only.database())
    topic = kafka_only.prefix + BOOKINGS
    await kafka_only.bus().ensure_topics([BOOKINGS])

    def kcat(partition: int, key: str, value: bytes, header: bytes = b"") -> None:
        command = [b"kcat", b"-P", b"-b", kafka_only.kafka_servers.encode(), b"-t", topic.encode(),
                   b"-p", str(partition).encode(), b"-k", key.encode()] + ([b"-H", header] if header else [])
        subprocess.run(command, input=value, check=True, timeout=30)  # one record: the value has no newline

    kcat(0, "c-p0", event_bytes("c-p0", 0))
    kcat(0, "c-bad", event_bytes("c-bad", 0), header=b"\xff\xfe=v")
    for seq in (1, 2):
        kcat(0, "c-p0", event_bytes("c-p0", seq))
    for seq in range(3):
        kcat(1, "c-p1", event_bytes("c-p1", seq))

    await eventually(lambda: equals(effect_count(runtime), 6))
    assert await applied_by_customer(runtime) == {
        customer: [sample.booking_id(customer, seq) for seq in range(3)] for customer in ("c-p0", "c-p1")}
    [letter] = await runtime.consumer.dead_letters()
    assert (letter.partition, letter.offset) == (0, 1)
    assert "record not readable by the Kafka client" in letter.error and "UnicodeDecodeError" in letter.error
    await eventually(lambda: lag_is(runtime, 0))
