"""Core consumer-path throughput: events/s from Kafka into PostgreSQL through the inbox, with floors.

    .venv/bin/python bench/core_bench.py [--events 20000]

Measured in one run on the same machine:
- floor "bus": raw aiokafka, produce N records then consume them back in one group (no database);
- floor "db": N rows inserted into PostgreSQL in batches of 500 (no bus);
- "pipeline": N booking-completed events already on the topic, applied by the sample consumer
  (decode, inbox check, handler in a savepoint, inbox row, one commit per batch, offset commit).
The ratios say how much of the floors the pipeline keeps; absolute figures move with the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.app import Runtime  # noqa: E402
from shared.bus import KafkaBus, Record  # noqa: E402
from shared.events import BOOKINGS  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.sample import app as sample  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from served import KAFKA, database_url, scratch_databases, steady_rate  # noqa: E402



async def bus_floor(n: int, payload: bytes) -> float:
    topic = f"bench-floor-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    started = time.perf_counter()
    try:
        futures = [await producer.send(topic, payload, key=f"c{i % 1000}".encode()) for i in range(n)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=KAFKA, group_id=topic, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    seen = 0
    try:
        while seen < n:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            seen += sum(len(v) for v in batches.values())
            if batches:
                await consumer.commit()
    finally:
        await consumer.stop()
    return n / (time.perf_counter() - started)


async def db_floor(n: int, database: str) -> float:
    conn = await asyncpg.connect(database_url(database))
    try:
        await conn.execute("CREATE TABLE floor (id serial primary key, booking_id text, customer_id text, event_id text)")
        started = time.perf_counter()
        for start in range(0, n, 500):
            async with conn.transaction():
                await conn.executemany(
                    "INSERT INTO floor (booking_id, customer_id, event_id) VALUES ($1, $2, $3)",
                    [(f"b{i}", f"c{i % 1000}", str(uuid.uuid4())) for i in range(start, min(n, start + 500))],
                )
        return n / (time.perf_counter() - started)
    finally:
        await conn.close()


async def pipeline(n: int, database: str) -> float:
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    url = database_url(database, "postgresql+asyncpg")
    settings = Settings(service="sample", environment="test", database_url=url, kafka_bootstrap_servers=KAFKA,
                        topic_prefix=prefix, consumer_batch_size=500)
    publisher = KafkaBus(KAFKA, prefix=prefix)
    records = [Record(BOOKINGS, f"c{i % 1000}", sample.order_event(f"c{i % 1000}", i).to_bytes()) for i in range(n)]
    for start in range(0, n, 2000):
        await publisher.publish(records[start : start + 2000])
    await publisher.stop()
    runtime = Runtime(sample.SPEC, settings)
    await runtime.start()

    async def applied() -> int:
        async with runtime.read_sessions() as session:
            return await sample.count(session, sample.SampleEffect)

    try:
        return await steady_rate(applied, n)
    finally:
        await runtime.stop()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    n = parser.parse_args().events
    async with scratch_databases(2) as databases:
        bus = await bus_floor(n, sample.order_event("c1", 1).to_bytes())
        db = await db_floor(n, databases[0])
        pipe = await pipeline(n, databases[1])
    print(f"events: {n}")
    print(f"floor bus (raw aiokafka produce+consume): {bus:10.0f} records/s")
    print(f"floor db  (raw asyncpg batched insert):   {db:10.0f} rows/s")
    print(f"pipeline  (Kafka → inbox → handler → PG): {pipe:10.0f} events/s")
    print(f"pipeline / min(floors): {pipe / min(bus, db):.2f}")


if __name__ == "__main__":
    asyncio.run(main())
