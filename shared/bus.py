"""The event bus: publish a batch, and let a consumer group read topics in batches.

Two implementations with one contract:
- at least once: a batch whose handler raised is delivered again (after a backoff), and
  offsets are committed only after the handler returned, i.e. after the effect committed;
- order per key: records with the same key go to the same partition, read in order;
- consumer groups: each group reads every record once it commits, independently of other groups.
`KafkaBus` (shared/kafka.py, its consumer in shared/kafka_consumer.py) runs on Apache Kafka with aiokafka; `MemoryBus` keeps the log in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from shared.logging import error_fields
from shared.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Record:
    """One record of a topic, as it came: a Kafka record may have no value (a tombstone), headers without
    a value, or a key that is not UTF-8 (then `key` is None and `raw_key` holds its bytes)."""

    topic: str
    key: str | None
    value: bytes | None
    event_type: str | None = None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    partition: int = -1
    offset: int = -1
    raw_key: bytes | None = None
    unreadable: str | None = None  # why the Kafka client could not read it at all (e.g. a header name not UTF-8)
    timestamp: float | None = None  # when it was written to the log (Unix seconds; on Kafka the record's timestamp)


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


def backoff(attempt: int, cap: float = 10.0) -> float:
    return min(cap, 0.1 * 2 ** min(attempt, 10)) * (0.5 + random.random() / 2)


class Consumer:
    """A running member of a consumer group; `stop()` leaves uncommitted records for the next member.

    A supervisor runs the member's loop (`_run`): if the loop dies (an error outside the batch handler's
    own error handling, or a stray cancellation), `health()` says so and the loop is restarted after a
    backoff. Only `stop()` ends it.
    """

    def __init__(
        self, bus: Bus, group: str, topics: list[str], handler: BatchHandler, metrics: Metrics, batch_size: int
    ) -> None:
        self.bus, self.group, self.topics, self.handler = bus, group, topics, handler
        self.metrics, self.batch_size = metrics, batch_size
        self._task: asyncio.Task | None = None
        self._problem: str | None = None

    async def start(self) -> None:
        self._problem = None
        self._task = asyncio.create_task(self._supervise(), name=f"consumer-{self.group}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def health(self) -> str:
        """'ok' while the loop runs; otherwise what is wrong (for /health/ready)."""
        if self._task is None or self._task.done():
            return "stopped"
        return self._problem or "ok"

    async def _run(self) -> None:
        raise NotImplementedError

    async def _apply(self, records: list[Record]) -> None:
        """The handler on a batch, observed: how old its oldest record was when it began, and how long it took."""
        started = time.time()
        stamps = [r.timestamp for r in records if r.timestamp is not None]
        if stamps:
            self.metrics.batch_wait.labels(consumer=self.group).observe(max(0.0, started - min(stamps)))
        try:
            await self.handler(records)
        finally:
            self.metrics.batch_duration.labels(consumer=self.group).observe(time.time() - started)

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        crashes = 0
        while True:
            started = loop.time()
            try:
                await self._run()
                error: BaseException = RuntimeError("consumer loop returned")
            except asyncio.CancelledError as exc:
                if asyncio.current_task().cancelling():  # stop(): really end
                    raise
                error = exc  # cancelled from inside: a crash like any other
            except Exception as exc:  # noqa: BLE001 - restarted below
                error = exc
            crashes = 1 if loop.time() - started > 60 else crashes + 1
            self._problem = f"restarting after {type(error).__name__}"
            self.metrics.consumer_restarts.labels(group=self.group).inc()
            log.error("consumer loop died; restarting", extra={"group": self.group, "crashes": crashes,
                                                               **error_fields(error)})
            await asyncio.sleep(backoff(crashes))
            self._problem = None


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
        now = time.time()
        for record in records:
            partition = zlib.crc32((record.key or "").encode()) % self.partitions
            log_ = self._log(record.topic)[partition]
            log_.append(
                Record(record.topic, record.key, record.value, record.event_type, list(record.headers), partition, len(log_),
                       timestamp=now)
            )
        async with self._appended:
            self._appended.notify_all()

    def consumer(
        self, group: str, topics: Sequence[str], handler: BatchHandler, *, metrics: Metrics, batch_size: int = 500
    ) -> Consumer:
        return _MemoryConsumer(self, group, list(topics), handler, metrics, batch_size)


class _MemoryConsumer(Consumer):
    bus: MemoryBus

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
                await self._apply(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - redeliver after a backoff
                failures += 1
                log.warning("batch failed; it will be delivered again", extra={"group": self.group, **error_fields(exc)})
                await asyncio.sleep(backoff(failures))
                continue
            failures = 0
            for record in batch:
                key = (self.group, record.topic, record.partition)
                self.bus.offsets[key] = max(self.bus.offsets.get(key, 0), record.offset + 1)


def __getattr__(name: str) -> object:
    """`from shared.bus import KafkaBus` keeps working; it lives in shared.kafka."""
    if name == "KafkaBus":
        from shared.kafka import KafkaBus

        return KafkaBus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
