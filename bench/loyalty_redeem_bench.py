"""Redemptions on one hot member, as production runs it: loyalty in its own process, load from wrk.

    .venv/bin/python bench/loyalty_redeem_bench.py [--seconds 15] [--connections 16] [--workers 1]

Needs `wrk` (Debian package `wrk`; installed on first use when missing) and the PostgreSQL and
Kafka of `make services`. Loyalty runs as `tourcrm serve loyalty` (uvicorn, `--workers` processes,
PostgreSQL, Kafka), so the load generator does not share its event loop. In the same run:
- floors: `GET /health/live` (no database) at the same concurrency, with the server's CPU per request (the
  framework's share: middleware, routing, a response), and raw asyncpg
  `SELECT … FOR UPDATE; UPDATE` transactions on one hot row by as many clients;
- redemptions: each connection posts a points-as-cash hold (unique Idempotency-Key), then its
  capture; a redemption is a captured hold. Rate = captures / seconds.
- server CPU per redemption: the server processes' CPU time during the run / captures;
- overdraft check: a second run against a balance that covers exactly 100 redemptions: exactly
  100 must be captured, the rest refused with 409, and the balance must end at 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncpg  # noqa: E402

from served import KAFKA, database_url, requests_per_second, scratch_databases, script, served, wrk  # noqa: E402

from shared.bus import KafkaBus, Record  # noqa: E402
from shared.events import CustomerRegistered, new_event  # noqa: E402

POINTS = 10


async def hot_row_floor(r: int, concurrency: int, database: str) -> float:
    pool = await asyncpg.create_pool(database_url(database), min_size=concurrency, max_size=concurrency)
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
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="server processes (TOURCRM_WORKERS)")
    args = parser.parse_args()
    async with scratch_databases(1) as [database]:
        row_floor = await hot_row_floor(2000, args.connections, database)
    async with served("loyalty", workers=args.workers) as svc:
        client, url, key = svc.client, svc.url, svc.key

        async def member(customer: str, redemptions: int) -> None:
            # loyalty enrols customers profile registered: customer-registered first, then enrol once it arrived
            envelope = new_event(CustomerRegistered(customer_id=customer), source="tourcrm/profile", subject=customer)
            publisher = KafkaBus(KAFKA, prefix=svc.topic_prefix)
            try:
                await publisher.publish([Record(envelope.topic, customer, envelope.to_bytes())])
            finally:
                await publisher.stop()
            for _ in range(300):
                if (enrol := await client.post("/v1/members", json={"customer_id": customer})).status_code != 422:
                    break
                await asyncio.sleep(0.1)
            assert enrol.status_code in (200, 201), enrol.text
            adjust = await client.post(f"/v1/members/{customer}/adjustments",
                                       json={"points": redemptions * POINTS, "reason": "bench"},
                                       headers={"Idempotency-Key": uuid.uuid4().hex})
            assert adjust.status_code == 201, adjust.text

        c, d = str(args.connections), f"{args.seconds}s"
        started, cpu = time.perf_counter(), svc.cpu_seconds()
        floor = requests_per_second(wrk(["-t1", "-c", c, "-d", d, f"{url}/health/live"]))
        floor_cpu = (svc.cpu_seconds() - cpu) / (floor * (time.perf_counter() - started))
        await member("hot", 10_000_000)
        if os.environ.get("BENCH_PROFILE"):  # py-spy the server during the run: BENCH_PROFILE=/tmp/x.txt
            subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(svc.pid),
                              "-d", str(args.seconds), "-f", "raw", "-o", os.environ["BENCH_PROFILE"]])
        lua_env = {"BENCH_KEY": key, "BENCH_MEMBER": "hot", "BENCH_POINTS": str(POINTS)}
        started, cpu = time.perf_counter(), svc.cpu_seconds()
        out = wrk(["-t1", "-c", c, "-d", d, "-s", script("redeem.lua"), url], lua_env)
        elapsed, cpu = time.perf_counter() - started, svc.cpu_seconds() - cpu
        result = dict(re.findall(r"(\w+)=(\d+)", out.split("RESULT", 1)[1]))
        rate = int(result["captures"]) / elapsed
        await member("limit", 100)
        out = wrk(["-t1", "-c", c, "-d", "8s", "-s", script("redeem.lua"), url], {**lua_env, "BENCH_MEMBER": "limit"})
        limit = dict(re.findall(r"(\w+)=(\d+)", out.split("RESULT", 1)[1]))
        await asyncio.sleep(0.5)
        final = (await client.get("/v1/members/limit")).json()
    print(f"floor GET /health/live, {c} connections:   {floor:8.0f} req/s   (server CPU {floor_cpu * 1e6:.0f} µs each)")
    print(f"redemptions (hold + capture) on one member: {rate:8.0f} /s   ({result})")
    print(f"redemptions / (floor / 2 requests):          {rate / (floor / 2):8.2f}")
    print(f"server CPU per redemption (hold + capture):  {cpu / int(result['captures']) * 1000:8.2f} ms")
    print(f"floor hot row (asyncpg FOR UPDATE + UPDATE): {row_floor:8.0f} tx/s   (2 locked tx per redemption)")
    print(f"redemptions / hot-row floor (2 tx each):     {2 * rate / row_floor:8.2f}   (target >= 0.6)")
    print(f"overdraft check (balance for 100): captured={limit['captures']} refused={limit['refused']} "
          f"other={limit['other']} final balance={final['points_balance']}")


if __name__ == "__main__":
    asyncio.run(main())
