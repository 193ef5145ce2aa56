"""Redemptions on one hot member, as production runs it: loyalty in its own process, load from wrk.

    .venv/bin/python bench/loyalty_redeem_bench.py [--seconds 15] [--connections 16]

Needs `wrk` (Debian package `wrk`; installed on first use when missing) and the PostgreSQL and
Kafka of `make services`. Loyalty runs as `tourcrm serve loyalty` (one uvicorn process, PostgreSQL,
Kafka), so the load generator does not share its event loop. In the same run:
- floor: `GET /health/live` (no database) at the same concurrency;
- redemptions: each connection posts a points-as-cash hold (unique Idempotency-Key), then its
  capture; a redemption is a captured hold. Rate = captures / seconds.
- overdraft check: a second run against a balance that covers exactly 100 redemptions: exactly
  100 must be captured, the rest refused with 409, and the balance must end at 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from shared.auth import SCOPES, hash_key  # noqa: E402
from tests.conftest import free_port  # noqa: E402

PG = os.environ.get("TOURCRM_TEST_PG", "postgresql://tourcrm:tourcrm@127.0.0.1:5432/postgres")
KAFKA = os.environ.get("TOURCRM_TEST_KAFKA", "127.0.0.1:9092")
POINTS = 10


def ensure_wrk() -> str:
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return shutil.which("wrk") or "wrk"


def wrk(args: list[str], env: dict[str, str]) -> str:
    return subprocess.run([ensure_wrk(), *args], capture_output=True, text=True, env={**os.environ, **env},
                          check=True).stdout


def requests_per_second(output: str) -> float:
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    database = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG)
    await admin.execute(f'CREATE DATABASE "{database}"')
    key = "tcrm_bench_" + uuid.uuid4().hex
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": PG.rsplit("/", 1)[0] + "/" + database,
        "KAFKA_BOOTSTRAP_SERVERS": KAFKA,
        "TOURCRM_TOPIC_PREFIX": f"bench{uuid.uuid4().hex[:6]}.",
        "TOURCRM_ENVIRONMENT": "test",
        "TOURCRM_PORT": str(port),
        "TOURCRM_LOG_LEVEL": "WARNING",
        "TOURCRM_API_KEYS": json.dumps([{"client": "bench", "key_sha256": hash_key(key), "scopes": list(SCOPES)}]),
    }
    server = subprocess.Popen([sys.executable, "-m", "shared.cli", "serve", "loyalty"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
            for _ in range(300):
                try:
                    if (await client.get("/health/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)

            async def member(customer: str, redemptions: int) -> None:
                assert (await client.post("/v1/members", json={"customer_id": customer})).status_code in (200, 201)
                adjust = await client.post(f"/v1/members/{customer}/adjustments",
                                           json={"points": redemptions * POINTS, "reason": "bench"},
                                           headers={"Idempotency-Key": uuid.uuid4().hex})
                assert adjust.status_code == 201, adjust.text

            c, d = str(args.connections), f"{args.seconds}s"
            floor = requests_per_second(wrk(["-t1", "-c", c, "-d", d, f"{url}/health/live"], {}))
            await member("hot", 10_000_000)
            if os.environ.get("BENCH_PROFILE"):  # py-spy the server during the run: BENCH_PROFILE=/tmp/x.txt
                subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(server.pid),
                                  "-d", str(args.seconds), "-f", "raw", "-o", os.environ["BENCH_PROFILE"]])
            script = str(REPO / "bench" / "wrk" / "redeem.lua")
            lua_env = {"BENCH_KEY": key, "BENCH_MEMBER": "hot", "BENCH_POINTS": str(POINTS)}
            started = time.perf_counter()
            out = wrk(["-t1", "-c", c, "-d", d, "-s", script, url], lua_env)
            elapsed = time.perf_counter() - started
            result = dict(re.findall(r"(\w+)=(\d+)", out.split("RESULT", 1)[1]))
            rate = int(result["captures"]) / elapsed
            await member("limit", 100)
            out = wrk(["-t1", "-c", c, "-d", "8s", "-s", script, url], {**lua_env, "BENCH_MEMBER": "limit"})
            limit = dict(re.findall(r"(\w+)=(\d+)", out.split("RESULT", 1)[1]))
            await asyncio.sleep(0.5)
            final = (await client.get("/v1/members/limit")).json()
    finally:
        server.terminate()
        server.wait(timeout=30)
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
    print(f"floor GET /health/live, {c} connections:   {floor:8.0f} req/s")
    print(f"redemptions (hold + capture) on one member: {rate:8.0f} /s   ({result})")
    print(f"redemptions / (floor / 2 requests):          {rate / (floor / 2):8.2f}")
    print(f"overdraft check (balance for 100): captured={limit['captures']} refused={limit['refused']} "
          f"other={limit['other']} final balance={final['points_balance']}")


if __name__ == "__main__":
    asyncio.run(main())
