"""The Kafka consumer: batches of records from aiokafka, offsets committed after the batch's effect committed (one
commit in flight while the next batch runs), a fetch wait that follows the batch time, records the client cannot
read parked, the group's lag read from the broker. `KafkaBus.consumer` makes them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from shared.bus import Consumer, Record, backoff, bounded
from shared.logging import error_fields

if TYPE_CHECKING:
    from shared.kafka import KafkaBus

log = logging.getLogger(__name__)

MIN_FETCH_WAIT_MS = 50  # the shortest fetch wait: also how often an idle consumer asks the broker again

def _key_of(raw: bytes | None) -> tuple[str | None, bytes | None]:
    """A Kafka key → (key, None), or (None, its bytes) when they are not UTF-8 (the consumer parks the record)."""
    if raw is None:
        return None, None
    try:
        return raw.decode(), None
    except UnicodeDecodeError:
        return None, raw


@dataclass(frozen=True)
class _Unreadable:
    """Where a record the Kafka client could not read sits, and why."""

    topic: str
    partition: int
    offset: int
    reason: str


class KafkaConsumer(Consumer):
    bus: KafkaBus

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._lock = asyncio.Lock()  # held while a batch is in flight; a rebalance waits for it
        self._failures = 0  # batches failed in a row, for the backoff
        self._committing: asyncio.Task | None = None  # the last batch's offset commit, while the next batch runs
        self._seconds: float | None = None  # how long batches take lately (moving average), for _pace

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
            # A fetch waits for 64 KiB (a backlog comes at once) up to a time _pace adapts to the batches; it runs
            # while the previous batch is applied, so it delays records only when batches are quicker than that.
            fetch_min_bytes=64 * 1024,
            fetch_max_wait_ms=min(self.bus.fetch_wait_ms, MIN_FETCH_WAIT_MS),
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
            request_timeout_ms=max(int(self.bus.timeout * 1000), 15_000),
            metadata_max_age_ms=30_000,
        )
        consumer.subscribe([self.bus.physical(t) for t in self.topics], listener=_WaitForBatch(self))
        try:
            await bounded(consumer.start(), self.bus.timeout)
        except BaseException:
            with contextlib.suppress(BaseException):
                await bounded(consumer.stop(), self.bus.timeout)
            raise
        return consumer

    async def _join(self) -> AIOKafkaConsumer:
        """A member of the group, retrying with a backoff while the broker cannot take it."""
        attempts = 0
        while True:
            try:
                return await self._open()
            except Exception as exc:  # noqa: BLE001
                attempts += 1
                log.warning("consumer cannot join its group yet", extra={"group": self.group, **error_fields(exc)})
                await asyncio.sleep(backoff(attempts))

    async def _run(self) -> None:
        consumer = await self._join()
        watcher = asyncio.create_task(self._watch_lag(consumer), name=f"lag-{self.group}")
        try:
            while True:
                try:
                    batches = await consumer.getmany(timeout_ms=500, max_records=self.batch_size)
                except UnicodeDecodeError as exc:  # aiokafka cannot read a record: find it, park it, go on
                    batches = await self._around_unreadable(consumer, exc)
                if batches:
                    started = time.perf_counter()
                    async with self._lock:
                        await self._handle(consumer, batches)
                    self._pace(consumer, time.perf_counter() - started)
        finally:
            watcher.cancel()
            with contextlib.suppress(BaseException):
                await bounded(self.settled(), self.bus.timeout)  # the last batch's offsets, so they need not come again
            with contextlib.suppress(BaseException):
                await bounded(consumer.stop(), self.bus.timeout)

    async def _around_unreadable(self, consumer: AIOKafkaConsumer, exc: Exception) -> dict[TopicPartition, list]:
        """A record the client cannot read (aiokafka decodes header names as UTF-8, inside getmany) stops
        every partition of this consumer at once. Read each partition alone, one record at a time, to find
        it: the batch is the good records before it and a stand-in for it (parked by the handler), and the
        partition goes on after it. Every partition is read again from its committed offset: the failed poll
        may already have moved another partition's position past records it never returned."""
        await self.settled()  # the committed offsets read below include the last batch's
        assigned = sorted(consumer.assignment())
        start = {tp: await bounded(consumer.committed(tp), self.bus.timeout) for tp in assigned}
        never = [tp for tp, offset in start.items() if offset is None]
        if never:
            start.update(await bounded(consumer.beginning_offsets(never), self.bus.timeout))
        for tp in assigned:
            consumer.seek(tp, start[tp])
        try:
            for tp in assigned:
                consumer.pause(*assigned)
                consumer.resume(tp)
                good, bad = await self._read_alone(consumer, tp)
                if bad is not None or good:
                    for other in assigned:
                        if other != tp:
                            consumer.seek(other, start[other])
                    if bad is None:
                        return {tp: good}
                    consumer.seek(tp, bad + 1)
                    reason = f"record not readable by the Kafka client: {type(exc).__name__}: {exc}"[:500]
                    return {tp: [*good, _Unreadable(tp.topic, tp.partition, bad, reason)]}
        finally:
            consumer.resume(*assigned)
        raise exc  # not found: the supervisor restarts the consumer

    async def _read_alone(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> tuple[list, int | None]:
        """tp's records from its position, one by one, until one cannot be read (its offset), the end, or a batch."""
        good: list = []
        while len(good) < self.batch_size:
            try:
                got = await consumer.getmany(tp, timeout_ms=1000, max_records=1)
            except UnicodeDecodeError:
                return good, await consumer.position(tp)
            if not got:
                break
            good.extend(got[tp])
        return good, None

    def _records(self, batches: dict[TopicPartition, list]) -> list[Record]:
        records = []
        for messages in batches.values():
            for m in messages:
                if isinstance(m, _Unreadable):
                    records.append(Record(self.bus.logical(m.topic), None, b"", None, [], m.partition, m.offset,
                                          unreadable=m.reason))
                    continue
                key, raw_key = _key_of(m.key)
                records.append(Record(self.bus.logical(m.topic), key, m.value, None, list(m.headers or []),
                                      m.partition, m.offset, raw_key, timestamp=m.timestamp / 1000 if m.timestamp else None))
        return records

    async def _handle(self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list]) -> None:
        """Hand a fetched batch to the handler; commit its offsets, or rewind to deliver it again."""
        try:
            await self._apply(self._records(batches))
        except Exception as exc:  # noqa: BLE001 - rewind and deliver again
            self._failures += 1
            log.warning("batch failed; rewinding", extra={"group": self.group, **error_fields(exc)})
            for tp, messages in batches.items():
                consumer.seek(tp, messages[0].offset)
            await asyncio.sleep(backoff(self._failures))
            return
        self._failures = 0
        await self.settled()  # the previous batch's offsets first: commits go in order, one at a time
        offsets = {tp: messages[-1].offset + 1 for tp, messages in batches.items()}
        self._committing = asyncio.create_task(self._commit(consumer, offsets), name=f"commit-{self.group}")

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        """Commit a handled batch's offsets. It runs while the next batch is applied: the broker's round trip is
        off the batch loop's path. Should it fail, or the process die first, those records come again and the
        inbox skips them."""
        try:
            await bounded(consumer.commit(offsets), self.bus.timeout)
        except Exception as exc:  # noqa: BLE001 - the inbox absorbs the redelivery
            log.warning("offset commit failed; records may be redelivered", extra=error_fields(exc))
            return
        for tp, next_offset in offsets.items():
            self._set_lag(tp, consumer.highwater(tp), next_offset)

    async def settled(self) -> None:
        """Wait until the offset commit in flight, if any, is done (it never raises)."""
        if self._committing is not None:
            await asyncio.wait({self._committing})  # not `await task`: a cancelled waiter leaves the commit running
            self._committing = None

    def _pace(self, consumer: AIOKafkaConsumer, seconds: float) -> None:
        """Adaptive batching: the next fetches wait for 64 KiB up to twice what batches take lately (moving average),
        at least MIN_FETCH_WAIT_MS and at most fetch_wait_ms. A quick consumer keeps its latency low; a loaded one
        gets batches big enough that applying them takes about half its time, so the fixed cost of a batch (its
        transaction, its offsets, a relay sweep) is paid less often; a backlog of 64 KiB is fetched at once."""
        self._seconds = seconds if self._seconds is None else 0.8 * self._seconds + 0.2 * seconds
        wait = min(self.bus.fetch_wait_ms, max(MIN_FETCH_WAIT_MS, round(2000 * self._seconds)))
        fetcher = getattr(consumer, "_fetcher", None)  # aiokafka reads it for each fetch request it builds
        if hasattr(fetcher, "_fetch_max_wait_ms"):
            fetcher._fetch_max_wait_ms = wait  # noqa: SLF001 - no public setter; without it the wait stays fixed

    def _set_lag(self, tp: TopicPartition, high: int | None, committed: int | None) -> None:
        if high is not None and committed is not None:
            self.metrics.consumer_lag.labels(
                group=self.group, topic=self.bus.logical(tp.topic), partition=tp.partition
            ).set(max(0, high - committed))

    async def _watch_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Every lag_interval: the broker's end offsets minus the group's committed offsets, for every partition of
        the subscribed topics, assigned to this process or not — also while batches fail or hang, so that a stall
        shows, and while a restarted process still waits for its partitions (the group lags meanwhile)."""
        while True:
            await asyncio.sleep(self.bus.lag_interval)
            try:
                partitions = sorted(TopicPartition(topic, p) for topic in consumer.subscription()
                                    for p in consumer.partitions_for_topic(topic) or ())
                if not partitions:
                    continue
                ends = await bounded(consumer.end_offsets(partitions), self.bus.timeout)
                committed = {tp: await bounded(consumer.committed(tp), self.bus.timeout) for tp in partitions}
                never = [tp for tp, offset in committed.items() if offset is None]
                if never:
                    committed.update(await bounded(consumer.beginning_offsets(never), self.bus.timeout))
                for tp in partitions:
                    self._set_lag(tp, ends.get(tp), committed.get(tp))
            except Exception as exc:  # noqa: BLE001 - the next reading comes
                log.warning("consumer lag not read", extra={"group": self.group, **error_fields(exc)})


class _WaitForBatch(ConsumerRebalanceListener):
    """On revocation, wait until the batch in flight has committed its effect and its offsets."""

    def __init__(self, member: KafkaConsumer) -> None:
        self.member = member

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self.member._lock:  # noqa: SLF001 - the listener is part of the member
            await self.member.settled()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        pass
