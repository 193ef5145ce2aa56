"""Loyalty earn throughput with floors measured in the same run (Kafka 3.9.1 + PostgreSQL, this machine).

    .venv/bin/python bench/loyalty_bench.py [--events 20000] [--workers 2]

(Redemptions: bench/loyalty_redeem_bench.py, with loyalty in its own process under wrk.)

- earn: N booking-completed events (1,000 customers) on Kafka, applied by the loyalty service's
  consumer (decode, inbox, earn use case: booking row, ledger entry, lot, tier evaluation, outbox event,
  and the relay publishing those events), timed from the first booking row written to the last (steady
  state: start-up, migrations and the group join excluded).
  - in this process: the service's Runtime (consumer + relay) on this event loop, the events already on Kafka;
  - served: `tourcrm serve loyalty` with 1 and with --workers processes (TOURCRM_WORKERS), as production runs
    it; the worker processes share the topic's 3 partitions in one consumer group.
- floors: raw aiokafka produce+consume of the same records, and raw asyncpg batched INSERTs of as many rows.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from core_bench import bus_floor, db_floor  # noqa: E402 - the same floors as the core benchmark
from services.loyalty.app import SPEC  # noqa: E402
from services.loyalty.models import Booking  # noqa: E402
import asyncpg  # noqa: E402

from served import KAFKA, database_url, scratch_databases, served, steady_rate  # noqa: E402
from shared.app import Runtime  # noqa: E402
from shared.bus import KafkaBus, Record  # noqa: E402
from shared.events import BOOKINGS, BookingCompleted, Product, new_event  # noqa: E402
from shared.db import utcnow  # noqa: E402
from shared.settings import Settings  # noqa: E402
from sqlalchemy import func, select  # noqa: E402



def booking(i: int, customer: str | None = None) -> bytes:
    customer = customer or f"c{i % 1000}"
    data = BookingCompleted(
        booking_id=f"B{i:08d}", customer_id=customer, amount="1280.00", completed_at=utcnow(),
        product=Product(id="P-1", name="桂林山水五日游", kind="tour", destination="桂林", tags=["nature"]),
    )
    return new_event(data, source="booking-web", subject=customer).to_bytes()


def settings_for(database: str, prefix: str, **changes: object) -> Settings:
    return Settings(service="loyalty", environment="test", database_url=database_url(database, "postgresql+asyncpg"), kafka_bootstrap_servers=KAFKA,
                    topic_prefix=prefix, consumer_batch_size=500, **changes)


async def count_bookings(runtime: Runtime) -> int:
    async with runtime.read_sessions() as session:
        return (await session.execute(select(func.count()).select_from(Booking))).scalar_one()


async def earn(n: int, database: str) -> float:
    prefix = f"lbench{uuid.uuid4().hex[:8]}."
    publisher = KafkaBus(KAFKA, prefix=prefix)
    records = [Record(BOOKINGS, f"c{i % 1000}", booking(i)) for i in range(n)]
    for start in range(0, n, 2000):
        await publisher.publish(records[start : start + 2000])
    await publisher.stop()
    runtime = Runtime(SPEC, settings_for(database, prefix))
    await runtime.start()
    try:
        return await steady_rate(lambda: count_bookings(runtime), n)
    finally:
        await runtime.stop()


async def earn_served(n: int, workers: int) -> float:
    async with served("loyalty", workers=workers) as svc:
        publisher = KafkaBus(KAFKA, prefix=svc.topic_prefix)
        records = [Record(BOOKINGS, f"c{i % 1000}", booking(i)) for i in range(n)]
        for start in range(0, n, 2000):
            await publisher.publish(records[start : start + 2000])
        await publisher.stop()
        db = await asyncpg.connect(database_url(svc.database))
        try:
            return await steady_rate(lambda: db.fetchval("SELECT count(*) FROM loyalty_booking"), n)
        finally:
            await db.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2, help="server processes of the second served run")
    args = parser.parse_args()
    async with scratch_databases(2, "lbench") as databases:
        bus = await bus_floor(args.events, booking(1))
        db = await db_floor(args.events, databases[0])
        earned = await earn(args.events, databases[1])
    one = await earn_served(args.events, 1)
    many = await earn_served(args.events, args.workers)
    floor = min(bus, db)
    print(f"events: {args.events} over 1,000 members")
    print(f"floor bus (raw aiokafka produce+consume):      {bus:9.0f} records/s")
    print(f"floor db  (raw asyncpg batched insert):        {db:9.0f} rows/s")
    print(f"earn, in this process:                         {earned:9.0f} events/s   ratio {earned / floor:.3f}")
    print(f"earn, tourcrm serve loyalty, 1 process:        {one:9.0f} events/s   ratio {one / floor:.3f}")
    print(f"earn, tourcrm serve loyalty, {args.workers} processes:      {many:9.0f} events/s   ratio {many / floor:.3f}")


if __name__ == "__main__":
    asyncio.run(main())
