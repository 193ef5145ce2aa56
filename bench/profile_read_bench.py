"""Profile reads/s as production serves them: profile in its own process, load from wrk.

    .venv/bin/python bench/profile_read_bench.py [--customers 500] [--seconds 10] [--connections 16]

Seeds customers with Chinese names through the API and a few bookings each through the HTTP
ingest (consumed into history and values), then, in the same run and at the same concurrency:
- floor: `GET /health/live` (no database, no key);
- `GET /v1/customers/{id}` (the file) and `GET /v1/customers/{id}/overview` (the 360 view) on
  random seeded customers.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from served import requests_per_second, script, served, wrk  # noqa: E402

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
PRODUCTS = [("P-GUILIN", "桂林山水五日游", "桂林", ["nature"]), ("P-XIAN", "西安古都四日游", "西安", ["history"]),
            ("P-SANYA", "三亚海景酒店", "三亚", ["beach", "family"])]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    rng = random.Random(7)
    async with served("profile") as svc:
        ids: list[str] = []
        bookings = 0
        for n in range(args.customers):
            body = {"name": rng.choice(SURNAMES) + "小" + str(n), "phones": [f"+86139{n:08d}"]}
            created = await svc.client.post("/v1/customers", json=body)
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
            for trip in range(rng.randint(1, 3)):
                pid, name, dest, tags = rng.choice(PRODUCTS)
                start = datetime.now(timezone.utc) - timedelta(days=rng.randint(10, 700))
                booking = {"booking_id": f"B-{n}-{trip}", "customer_id": ids[-1], "channel": "app",
                           "product": {"id": pid, "name": name, "kind": "tour", "destination": dest, "tags": tags},
                           "amount": f"{rng.randint(800, 9000)}.00", "completed_at": start.isoformat()}
                assert (await svc.client.post("/v1/bookings/completed", json=booking)).status_code == 202
                bookings += 1
        for _ in range(600):  # until the consumer has them all
            page = await svc.client.get(f"/v1/customers/{ids[-1]}/bookings")
            if page.status_code == 200 and page.json()["items"]:
                break
            await asyncio.sleep(0.1)
        c, d = str(args.connections), f"{args.seconds}s"
        env = {"BENCH_KEY": svc.key, "BENCH_IDS": ",".join(ids)}
        floor = requests_per_second(wrk(["-t1", "-c", c, "-d", d, f"{svc.url}/health/live"]))
        file = requests_per_second(wrk(["-t1", "-c", c, "-d", d, "-s", script("get_random.lua"), svc.url],
                                       {**env, "BENCH_PATH": "/v1/customers/{id}"}))
        overview = requests_per_second(wrk(["-t1", "-c", c, "-d", d, "-s", script("get_random.lua"), svc.url],
                                           {**env, "BENCH_PATH": "/v1/customers/{id}/overview"}))
    print(f"customers: {args.customers}, bookings: {bookings}, {c} connections, {d} each")
    print(f"floor GET /health/live:           {floor:8.0f} req/s")
    print(f"GET /v1/customers/{{id}}:           {file:8.0f} req/s   ({file / floor:.2f} of floor)")
    print(f"GET /v1/customers/{{id}}/overview:  {overview:8.0f} req/s   ({overview / floor:.2f} of floor)")


if __name__ == "__main__":
    asyncio.run(main())
