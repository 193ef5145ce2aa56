"""Profile booking ingest and consumer throughput on Kafka + PostgreSQL, each with a floor from the same run.

    .venv/bin/python bench/profile_bench.py [--customers 200] [--bookings 3000] [--concurrency 16]

(Reads: bench/profile_read_bench.py, with profile in its own process under wrk.)
- ingest: POST /v1/bookings/completed → 202 (validate + outbox write, one commit each), and end to end
  until every booking is in the booking history (relay → Kafka → profile consumer → projection + RFM);
  the floor is a raw KafkaBus publish of the same events in batches of 500 (no HTTP, no database);
- consumer: N booking-completed events published straight to `tourcrm.bookings` (KafkaBus, batches of 500),
  timed from the first publish until all are in the booking history (Kafka → profile consumer → booking rows,
  catalog, stub files, value/RFM/churn recompute); the floor is raw aiokafka produce + consume of the same
  number of records in one group (bench/core_bench.py's bus floor: no database).
The client runs in the same process as the server (one 2-core machine): ratios matter more than absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.profile.models import Booking  # noqa: E402
from bench.core_bench import bus_floor  # noqa: E402
from shared.bus import KafkaBus, Record  # noqa: E402
from shared.events import BOOKINGS, BookingCompleted, new_event  # noqa: E402
from tests.conftest import KAFKA, Backend, require_kafka, require_postgres  # noqa: E402
from tests.profile.helpers import PRODUCTS, booking  # noqa: E402


async def hammer(client: httpx.AsyncClient, paths: list[str], total: int, concurrency: int,
                 method: str = "GET", bodies: list[dict] | None = None) -> float:
    counter = iter(range(total))
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for i in counter:
            if method == "GET":
                r = await client.get(paths[i % len(paths)])
            else:
                r = await client.post(paths[0], json=bodies[i])
            if r.status_code >= 300:
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{failures} requests failed")
    return total / elapsed


async def main(args: argparse.Namespace) -> None:
    backend = Backend("kafka", Path("/tmp"), await require_postgres(), await require_kafka())
    try:
        profile = await backend.service("profile")
        client = profile.client
        client.timeout = httpx.Timeout(60)
        rng = random.Random(1)
        ids = []
        for n in range(args.customers):
            r = await client.post("/v1/customers", json={"name": f"基准客户{n}", "phones": [f"135{n:08d}"],
                                                         "preferences": {"interests": ["nature"]}})
            ids.append(r.json()["id"])
        seed = [booking(f"seed-{n}", ids[n % len(ids)], product=rng.choice(list(PRODUCTS)),
                        completed_at=datetime.now(timezone.utc) - timedelta(days=rng.randint(1, 600)))
                for n in range(args.customers * 3)]
        await hammer(client, ["/v1/bookings/completed"], len(seed), args.concurrency, "POST", seed)
        await wait_rows(profile, len(seed))

        bodies = [booking(f"b-{uuid.uuid4().hex[:12]}", ids[n % len(ids)], product=rng.choice(list(PRODUCTS)))
                  for n in range(args.bookings)]
        floor_bus = KafkaBus(KAFKA, prefix=f"bench{uuid.uuid4().hex[:6]}.", timeout=30)
        records = [Record("bench.floor", b["customer_id"], str(b).encode()) for b in bodies]
        await floor_bus.ensure_topics(["bench.floor"])
        started = time.perf_counter()
        for i in range(0, len(records), 500):
            await floor_bus.publish(records[i:i + 500])
        floor_publish = len(records) / (time.perf_counter() - started)
        await floor_bus.stop()

        before = len(seed)
        started = time.perf_counter()
        accepted = await hammer(client, ["/v1/bookings/completed"], len(bodies), args.concurrency, "POST", bodies)
        await wait_rows(profile, before + len(bodies))
        end_to_end = len(bodies) / (time.perf_counter() - started)

        # the consumer alone: events straight onto the topic, as a booking backend with a Kafka client sends them
        n = args.consumer_events
        consumer_floor = await bus_floor(n, new_event(BookingCompleted.model_validate(bodies[0]), source="bench").to_bytes())
        direct = [new_event(BookingCompleted.model_validate(
            booking(f"k-{uuid.uuid4().hex[:12]}", f"kc-{i % args.consumer_customers}", product=rng.choice(list(PRODUCTS)),
                    amount=f"{rng.randint(200, 9000)}.00",
                    completed_at=datetime.now(timezone.utc) - timedelta(days=rng.randint(1, 600)))),
            source="bench", subject=f"kc-{i % args.consumer_customers}") for i in range(n)]
        publisher = backend.bus()
        before = await count_rows(profile)
        started = time.perf_counter()
        for i in range(0, n, 500):
            await publisher.publish([Record(BOOKINGS, e.subject, e.to_bytes()) for e in direct[i:i + 500]])
        await wait_rows(profile, before + n)
        consumed = n / (time.perf_counter() - started)

        print(f"profile bench: {args.customers} customers, {len(seed)} seed bookings, concurrency {args.concurrency}")
        print(f"ingest  floor raw KafkaBus publish       {floor_publish:8.0f} events/s")
        print(f"ingest  POST /v1/bookings/completed 202  {accepted:8.0f} events/s  ({accepted / floor_publish:.2f} of floor)")
        print(f"ingest  end to end into booking history  {end_to_end:8.0f} events/s  ({end_to_end / floor_publish:.2f} of floor)")
        print(f"consumer {n} events over {args.consumer_customers} customers, straight to Kafka")
        print(f"consumer floor raw aiokafka produce+consume {consumer_floor:8.0f} events/s")
        print(f"consumer Kafka → profile → booking history  {consumed:8.0f} events/s  ({consumed / consumer_floor:.2f} of floor)")
    finally:
        await backend.close()


async def count_rows(profile) -> int:  # noqa: ANN001
    async with profile.runtime.read_sessions() as s:
        return (await s.execute(select(func.count()).select_from(Booking))).scalar_one()


async def wait_rows(profile, count: int) -> None:  # noqa: ANN001
    while await count_rows(profile) < count:
        await asyncio.sleep(0.05)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--bookings", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--consumer-events", type=int, default=5000,
                        help="booking-completed events published straight to Kafka for the consumer figure")
    parser.add_argument("--consumer-customers", type=int, default=2000,
                        help="distinct customers the consumer events are spread over")
    asyncio.run(main(parser.parse_args()))
