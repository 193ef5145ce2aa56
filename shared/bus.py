"""The event bus: publish a batch, and let a consumer group read topics in batches.

Two implementations with one contract:
- at least once: a batch whose handler raised is delivered again (after a backoff), and
  offsets are committed only after the handler returned, i.e. after the effect committed;
- order per key: records with the same key go to the same partition, read in order;
- consumer groups: each group reads every record once it commits, independently of other groups.
`KafkaBus` runs on Apache Kafka with aiokafka; `MemoryBus` keeps the log in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.logging import error_fields
from shared.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Record:
    topic: str
    key: str | None
    value: bytes
    event_type: str | None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    partition: int = -1
    offset: int = -1


BatchHandler = Callable[[list[Record]], Awaitable[None]]
T = TypeVar("T")


def _forget(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not warn about it


async def bounded(awaitable: Awaitable[T], timeout: float) -> T:
    """Await with a deadline that holds even if the awaited code ignores cancellation.

    asyncio.wait_for cancels on timeout and then waits for the cancellation to finish, which
    can be forever (aiokafka's stop() during a group join or with the broker down). Here the
    task is cancelled and left behind, and TimeoutError is raised at the deadline.
    """
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        task.add_done_callback(_forget)
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_forget)
        raise TimeoutError(f"gave up after {timeout}s")
    return task.result()


def _backoff(attempt: int, cap: float = 10.0) -> float:
    return min(cap, 0.1 * 2 ** min(attempt, 10)) * (0.5 + random.random() / 2)


class Consumer:
    """A running member of a consumer group; `stop()` leaves uncommitted records for the next member."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError


class Bus:
    partitions: int = 3

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, records: Sequence[Record]) -> None:
        raise NotImplementedError

    def consumer(
        self, group: str, topics: Sequence[str], handler: BatchHandler, *, metrics: Metrics, batch_size: int = 500
    ) -> Consumer:
        raise NotImplementedError

    async def ready(self) -> bool:
        return True


# --- in-process --------------------------------------------------------------------------------


class MemoryBus(Bus):
    """Kafka's semantics inside one process: partitioned logs, group offsets, redelivery on failure."""

    def __init__(self, partitions: int = 3) -> None:
        self.partitions = partitions
        self.logs: dict[str, list[list[Record]]] = {}
        self.offsets: dict[tuple[str, str, int], int] = {}
        self._appended = asyncio.Condition()

    def _log(self, topic: str) -> list[list[Record]]:
        return self.logs.setdefault(topic, [[] for _ in range(self.partitions)])

    async def publish(self, records: Sequence[Record]) -> None:
        for record in records:
            partition = zlib.crc32((record.key or "").encode()) % self.partitions
            log_ = self._log(record.topic)[partition]
            log_.append(
                Record(record.topic, record.key, record.value, record.event_type, list(record.headers), partition, len(log_))
            )
        async with self._appended:
            self._appended.notify_all()

    def consumer(
        self, group: str, topics: Sequence[str], handler: BatchHandler, *, metrics: Metrics, batch_size: int = 500
    ) -> Consumer:
        return _MemoryConsumer(self, group, list(topics), handler, metrics, batch_size)


class _MemoryConsumer(Consumer):
    def __init__(
        self, bus: MemoryBus, group: str, topics: list[str], handler: BatchHandler, metrics: Metrics, batch_size: int
    ) -> None:
        self.bus, self.group, self.topics, self.handler = bus, group, topics, handler
        self.metrics, self.batch_size = metrics, batch_size
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"memory-consumer-{self.group}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _next_batch(self) -> list[Record]:
        batch: list[Record] = []
        for topic in self.topics:
            for partition, log_ in enumerate(self.bus._log(topic)):
                start = self.bus.offsets.get((self.group, topic, partition), 0)
                self.metrics.consumer_lag.labels(group=self.group, topic=topic, partition=partition).set(len(log_) - start)
                batch.extend(log_[start : start + self.batch_size - len(batch)])
                if len(batch) >= self.batch_size:
                    return batch
        return batch

    async def _run(self) -> None:
        failures = 0
        while True:
            batch = self._next_batch()
            if not batch:
                # asyncio.timeout, not wait_for: wait_for runs the wait as another task and, when
                # cancelled, waits for it to re-acquire the condition's lock, which can hang (3.11).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0), self.bus._appended:
                        await self.bus._appended.wait()
                continue
            try:
                await self.handler(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - redeliver after a backoff
                failures += 1
                log.warning("batch failed; it will be delivered again", extra={"group": self.group, **error_fields(exc)})
                await asyncio.sleep(_backoff(failures))
                continue
            failures = 0
            for record in batch:
                key = (self.group, record.topic, record.partition)
                self.bus.offsets[key] = max(self.bus.offsets.get(key, 0), record.offset + 1)


# --- Apache Kafka ------------------------------------------------------------------------------


class KafkaBus(Bus):
    """Kafka through aiokafka: acks=all, idempotent producer, manual commits, bounded sends and stops."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        prefix: str = "",
        client_id: str = "tourcrm",
        timeout: float = 10.0,
        partitions: int = 3,
        replication_factor: int = 1,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.prefix = prefix
        self.client_id = client_id
        self.timeout = timeout
        self.partitions = partitions
        self.replication_factor = replication_factor
        self._producer: AIOKafkaProducer | None = None
        self._producer_lock = asyncio.Lock()
        self._known_topics: set[str] = set()

    def physical(self, topic: str) -> str:
        return self.prefix + topic

    def logical(self, topic: str) -> str:
        return topic[len(self.prefix) :] if self.prefix and topic.startswith(self.prefix) else topic

    async def start(self) -> None:
        """Connect the producer; a broker that is down now is retried on the next publish."""
        try:
            await self._ensure_producer()
        except Exception as exc:  # noqa: BLE001
            log.warning("kafka not reachable at start; will retry", extra=error_fields(exc))

    async def stop(self) -> None:
        await self._drop_producer()

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        missing = [t for t in topics if t not in self._known_topics]
        if not missing:
            return
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=int(self.timeout * 1000))
        try:
            await bounded(admin.start(), self.timeout)
            existing = set(await bounded(admin.list_topics(), self.timeout))
            new = [
                NewTopic(self.physical(t), self.partitions, self.replication_factor)
                for t in missing
                if self.physical(t) not in existing
            ]
            if new:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await bounded(admin.create_topics(new), self.timeout)
            self._known_topics.update(missing)
        finally:
            with contextlib.suppress(Exception):
                await bounded(admin.close(), self.timeout)

    async def _ensure_producer(self) -> AIOKafkaProducer:
        async with self._producer_lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap_servers,
                    client_id=self.client_id,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=5,
                    request_timeout_ms=int(self.timeout * 1000),
                    compression_type=None,
                )
                try:
                    await bounded(producer.start(), self.timeout)
                except BaseException:
                    with contextlib.suppress(BaseException):
                        await bounded(producer.stop(), self.timeout)
                    raise
                self._producer = producer
            return self._producer

    async def _drop_producer(self) -> None:
        async with self._producer_lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            # An idempotent producer can hang in stop() while the broker is down (aiokafka #1101).
            with contextlib.suppress(BaseException):
                await bounded(producer.stop(), self.timeout)

    async def publish(self, records: Sequence[Record]) -> None:
        """Send a batch and wait until the broker acknowledged all of it (acks=all), or raise."""
        if not records:
            return
        try:
            await self.ensure_topics(sorted({r.topic for r in records}))
            producer = await self._ensure_producer()

            async def send_all() -> None:
                futures = [
                    await producer.send(
                        self.physical(r.topic),
                        value=r.value,
                        key=r.key.encode() if r.key is not None else None,
                        headers=[("content-type", b"application/cloudevents+json"), *r.headers],
                    )
                    for r in records
                ]
                await asyncio.gather(*futures)

            await bounded(send_all(), self.timeout)
        except Exception:
            await self._drop_producer()  # start clean: a half-broken idempotent producer can wedge
            raise

    def consumer(
        self, group: str, topics: Sequence[str], handler: BatchHandler, *, metrics: Metrics, batch_size: int = 500
    ) -> Consumer:
        return _KafkaConsumer(self, group, list(topics), handler, metrics, batch_size)

    async def ready(self) -> bool:
        """Whether the broker answers a metadata request now (answers within a few seconds)."""

        async def probe() -> None:
            producer = await self._ensure_producer()
            await producer.client.fetch_all_metadata()

        try:
            await bounded(probe(), min(self.timeout, 5.0))
            return True
        except Exception:  # noqa: BLE001
            await self._drop_producer()
            return False


class _KafkaConsumer(Consumer):
    def __init__(
        self, bus: KafkaBus, group: str, topics: list[str], handler: BatchHandler, metrics: Metrics, batch_size: int
    ) -> None:
        self.bus, self.group, self.topics, self.handler = bus, group, topics, handler
        self.metrics, self.batch_size = metrics, batch_size
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()  # held while a batch is in flight; a rebalance waits for it

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"kafka-consumer-{self.group}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _open(self) -> AIOKafkaConsumer:
        await self.bus.ensure_topics(self.topics)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bus.bootstrap_servers,
            client_id=f"{self.bus.client_id}-{self.group}",
            group_id=self.bus.physical(self.group),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=self.batch_size,
            # Under load, wait up to 50 ms for 64 KiB so that batches (one transaction each) grow;
            # when idle, a record is still delivered within 50 ms.
            fetch_min_bytes=64 * 1024,
            fetch_max_wait_ms=50,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
            request_timeout_ms=max(int(self.bus.timeout * 1000), 15_000),
            metadata_max_age_ms=30_000,
        )
        consumer.subscribe([self.bus.physical(t) for t in self.topics], listener=_WaitForBatch(self._lock))
        try:
            await bounded(consumer.start(), self.bus.timeout)
        except BaseException:
            with contextlib.suppress(BaseException):
                await bounded(consumer.stop(), self.bus.timeout)
            raise
        return consumer

    async def _run(self) -> None:
        failures = 0
        consumer: AIOKafkaConsumer | None = None
        try:
            while True:
                if consumer is None:
                    try:
                        consumer = await self._open()
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # noqa: BLE001
                        failures += 1
                        log.warning("consumer cannot join its group yet", extra={"group": self.group, **error_fields(exc)})
                        await asyncio.sleep(_backoff(failures))
                        continue
                batches = await consumer.getmany(timeout_ms=500, max_records=self.batch_size)
                if not batches:
                    continue
                async with self._lock:
                    records = [
                        Record(
                            self.bus.logical(m.topic),
                            m.key.decode() if m.key is not None else None,
                            m.value,
                            None,
                            list(m.headers or []),
                            m.partition,
                            m.offset,
                        )
                        for messages in batches.values()
                        for m in messages
                    ]
                    try:
                        await self.handler(records)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - rewind and deliver again
                        failures += 1
                        log.warning("batch failed; rewinding", extra={"group": self.group, **error_fields(exc)})
                        for tp, messages in batches.items():
                            consumer.seek(tp, messages[0].offset)
                        await asyncio.sleep(_backoff(failures))
                        continue
                    failures = 0
                    offsets = {tp: messages[-1].offset + 1 for tp, messages in batches.items()}
                    try:
                        await bounded(consumer.commit(offsets), self.bus.timeout)
                    except Exception as exc:  # noqa: BLE001 - the inbox absorbs the redelivery
                        log.warning("offset commit failed; records may be redelivered", extra=error_fields(exc))
                    for tp, next_offset in offsets.items():
                        high = consumer.highwater(tp)
                        if high is not None:
                            self.metrics.consumer_lag.labels(
                                group=self.group, topic=self.bus.logical(tp.topic), partition=tp.partition
                            ).set(max(0, high - next_offset))
        finally:
            if consumer is not None:
                with contextlib.suppress(BaseException):
                    await bounded(consumer.stop(), self.bus.timeout)


class _WaitForBatch(ConsumerRebalanceListener):
    """On revocation, wait until the batch in flight has committed its effect and its offsets."""

    def __init__(self, lock: asyncio.Lock) -> None:
        self.lock = lock

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self.lock:
            pass

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        pass
