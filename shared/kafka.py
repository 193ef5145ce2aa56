"""The bus on Apache Kafka, through aiokafka: acks=all, idempotent producer, manual offset commits
after the batch's effect committed, every send and stop bounded by a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.bus import BatchHandler, Bus, Consumer, Record, bounded
from shared.kafka_consumer import KafkaConsumer
from shared.logging import error_fields
from shared.metrics import Metrics

log = logging.getLogger(__name__)


def separated(prefix: str) -> str:
    """A topic prefix ends in a separator: 'probe' → 'probe.' (so 'probe.tourcrm.bookings'); one ending
    in '.', '-' or '_' is kept as it is."""
    return prefix if not prefix or prefix[-1] in ".-_" else prefix + "."



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
        lag_interval: float = 15.0,
        fetch_wait_ms: int = 150,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.prefix = separated(prefix)
        self.lag_interval = lag_interval  # seconds between lag readings from the broker, stalled or not
        self.fetch_wait_ms = fetch_wait_ms  # the longest a fetch waits for 64 KiB (the consumer adapts it, _pace)
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
        return KafkaConsumer(self, group, list(topics), handler, metrics, batch_size)

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


