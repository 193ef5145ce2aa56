"""Loyalty throughput with floors measured in the same run (Kafka 3.9.1 + PostgreSQL, this machine).

    .venv/bin/python bench/loyalty_bench.py [--events 10000] [--redemptions 1000] [--concurrency 16]

- earn: N booking-completed events (1,000 customers) already on Kafka, applied by the loyalty service's
  consumer (decode, inbox, earn use case: booking row, ledger entry, lot, tier evaluation, outbox event),
  timed until every booking row is written. Floors: raw aiokafka produce+consume of the same records,
  and raw asyncpg batched INSERTs of as many rows.
- redeem: R hold+capture pairs over HTTP on ONE member, C clients at once, with a balance that covers
  exactly R - C·2 of them (the rest must be refused); checks zero overdraft. Floors: the same C clients
  doing R bare HTTP round trips (GET /health/live) against the same server, and R raw asyncpg
  "SELECT … FOR UPDATE; UPDATE" transactions on one hot row.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from core_bench import bus_floor, db_floor  # noqa: E402 - the same floors as the core benchmark
from services.loyalty.app import SPEC, create_app  # noqa: E402
from services.loyalty.models import Booking  # noqa: E402
from served import steady_rate  # noqa: E402
from shared.app import Runtime  # noqa: E402
from shared.bus import KafkaBus, Record  # noqa: E402
from shared.events import BOOKINGS, BookingCompleted, Product, new_event  # noqa: E402
from shared.db import utcnow  # noqa: E402
from shared.settings import Settings  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from tests.conftest import TEST_KEY_ENTRIES, TEST_KEYS, free_port  # noqa: E402

PG = os.environ.get("TOURCRM_TEST_PG", "postgresql://tourcrm:tourcrm@127.0.0.1:5432/postgres")
KAFKA = os.environ.get("TOURCRM_TEST_KAFKA", "127.0.0.1:9092")


def booking(i: int, customer: str | None = None) -> bytes:
    customer = customer or f"c{i % 1000}"
    data = BookingCompleted(
        booking_id=f"B{i:08d}", customer_id=customer, amount="1280.00", completed_at=utcnow(),
        product=Product(id="P-1", name="桂林山水五日游", kind="tour", destination="桂林", tags=["nature"]),
    )
    return new_event(data, source="booking-web", subject=customer).to_bytes()


def settings_for(database: str, prefix: str, **changes: object) -> Settings:
    url = PG.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + database
    return Settings(service="loyalty", environment="test", database_url=url, kafka_bootstrap_servers=KAFKA,
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


async def serve(database: str) -> tuple[uvicorn.Server, asyncio.Task, str]:
    prefix = f"rbench{uuid.uuid4().hex[:8]}."
    port = free_port()
    app = create_app(settings_for(database, prefix, port=port, api_keys=TEST_KEY_ENTRIES))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    server.config.load()
    server.lifespan = server.config.lifespan_class(server.config)
    task = asyncio.create_task(server._serve())  # noqa: SLF001
    while not server.started:
        await asyncio.sleep(0.02)
    return server, task, f"http://127.0.0.1:{port}"


async def redeem(r: int, concurrency: int, database: str) -> tuple[float, float, dict[str, int]]:
    server, task, url = await serve(database)
    headers = {"Authorization": f"Bearer {TEST_KEYS['all']}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    try:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as client:
            allowed = r - 2 * concurrency
            await client.post("/v1/members", json={"customer_id": "hot"})
            adj = await client.post("/v1/members/hot/adjustments", json={"points": allowed * 10, "reason": "bench"},
                                    headers={"Idempotency-Key": uuid.uuid4().hex})
            assert adj.status_code == 201, adj.text
            queue = list(range(r))
            outcome = {"captured": 0, "refused": 0, "other": 0}

            async def worker() -> None:
                while queue:
                    queue.pop()
                    hold = await client.post("/v1/members/hot/redemptions", json={"points": 10},
                                             headers={"Idempotency-Key": uuid.uuid4().hex})
                    if hold.status_code == 409:
                        outcome["refused"] += 1
                        continue
                    if hold.status_code != 201:
                        outcome["other"] += 1
                        continue
                    cap = await client.post(f"/v1/redemptions/{hold.json()['id']}/capture")
                    outcome["captured" if cap.status_code == 200 else "other"] += 1

            started = time.perf_counter()
            await asyncio.gather(*[worker() for _ in range(concurrency)])
            rate = r / (time.perf_counter() - started)
            final = (await client.get("/v1/members/hot")).json()
            outcome["final_balance"] = final["points_balance"]
            outcome["expected_captured"] = allowed

            queue = list(range(r))

            async def pinger() -> None:
                while queue:
                    queue.pop()
                    await client.get("/health/live")

            started = time.perf_counter()
            await asyncio.gather(*[pinger() for _ in range(concurrency)])
            http_floor = r / (time.perf_counter() - started)
        return rate, http_floor, outcome
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)


async def hot_row_floor(r: int, concurrency: int, database: str) -> float:
    pool = await asyncpg.create_pool(PG.rsplit("/", 1)[0] + "/" + database, min_size=concurrency, max_size=concurrency)
    try:
        await pool.execute("CREATE TABLE hot (id int primary key, balance int not null)")
        await pool.execute("INSERT INTO hot VALUES (1, $1)", r * 10)
        queue = list(range(r))

        async def worker() -> None:
            while queue:
                queue.pop()
                async with pool.acquire() as conn, conn.transaction():
                    balance = await conn.fetchval("SELECT balance FROM hot WHERE id = 1 FOR UPDATE")
                    await conn.execute("UPDATE hot SET balance = $1 WHERE id = 1", balance - 10)

        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        return r / (time.perf_counter() - started)
    finally:
        await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--redemptions", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    admin = await asyncpg.connect(PG)
    databases = [f"lbench_{uuid.uuid4().hex[:8]}" for _ in range(4)]
    for database in databases:
        await admin.execute(f'CREATE DATABASE "{database}"')
    try:
        bus = await bus_floor(args.events, booking(1))
        db = await db_floor(args.events, databases[0])
        earned = await earn(args.events, databases[1])
        row = await hot_row_floor(args.redemptions, args.concurrency, databases[2])
        redeemed, http_floor, outcome = await redeem(args.redemptions, args.concurrency, databases[3])
    finally:
        for database in databases:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
    print(f"events: {args.events}; redemptions: {args.redemptions} by {args.concurrency} clients on one member")
    print(f"floor bus (raw aiokafka produce+consume):      {bus:9.0f} records/s")
    print(f"floor db  (raw asyncpg batched insert):        {db:9.0f} rows/s")
    print(f"earn (Kafka → loyalty consumer → PostgreSQL):  {earned:9.0f} events/s   ratio {earned / min(bus, db):.3f}")
    print(f"floor hot row (asyncpg FOR UPDATE + UPDATE):   {row:9.0f} tx/s")
    print(f"floor http (GET /health/live, same clients):   {http_floor:9.0f} req/s")
    print(f"redeem (hold + capture over HTTP, one member): {redeemed:9.0f} redemptions/s   "
          f"ratio vs hot row {redeemed / row:.3f}, vs http/2 {redeemed / (http_floor / 2):.3f}")
    print(f"outcome: {outcome}  overdraft: {'NONE' if outcome['final_balance'] >= 0 and outcome['captured'] == outcome['expected_captured'] else 'YES'}")


if __name__ == "__main__":
    asyncio.run(main())
