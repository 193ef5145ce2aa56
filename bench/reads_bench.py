"""Hot reads as production serves them, each against two floors of the same server in the same run.

    .venv/bin/python bench/reads_bench.py [--entities 200] [--seconds 10] [--connections 8,16,64] [--only profile,...]
                                          [--workers 2] [--embedded]

Each service runs as its own process on PostgreSQL + Kafka (`bench/served.py`); Debian's wrk drives it
from loopback with 64 connections over random seeded ids (`bench/wrk/get_random.lua`). Per server:
- floor `GET /health/live` (no database, no key);
- floor `GET /bench/floor/{id}`: one primary-key SELECT of the read's main table through the raw driver
  (asyncpg on a pooled connection), the row as JSON, no key. It exists only because this bench starts the
  server with TOURCRM_BENCH_FLOOR=table.column (shared/app.py; never mounted in production);
- the reads: profile `GET /v1/customers/{id}` and `/overview`, loyalty `GET /v1/members/{id}`, feedback
  `GET /v1/surveys/invitations/{token}` (the public survey form), complaints `GET /v1/complaints/{id}`.

--embedded: the one-process shape of `tourcrm run` instead (the four services in one process, each on its own
SQLite file, the in-process bus), what a small agency on one box gets; the floors are those of the same process,
per service. Seeded through the API only (customers, bookings by the batch ingest, members, complaints).

Seeding goes through the API and the bus (customers with bookings, members, complaints, booking-completed
events that schedule survey invitations); invitations are then marked sent in the database directly (the
dispatch job would ask for consents the bench has no reason to model). Runs with any non-2xx answer are refused.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import asynccontextmanager
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncpg  # noqa: E402

import httpx  # noqa: E402

from served import KAFKA, Served, database_url, requests_per_second, script, served, wrk  # noqa: E402
from tests.conftest import free_offset  # noqa: E402

from shared.auth import hash_key  # noqa: E402
from shared.bus import KafkaBus, Record  # noqa: E402
from shared.events import BookingCompleted, CustomerRegistered, Product, new_event  # noqa: E402
from tourcrm import SERVICES, all_scopes, spec  # noqa: E402

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
PRODUCTS = [("P-GUILIN", "桂林山水五日游", "桂林", ["nature"]), ("P-XIAN", "西安古都四日游", "西安", ["history"]),
            ("P-SANYA", "三亚海景酒店", "三亚", ["beach", "family"])]
# service → (floor table.column, [(label, path)])
READS = {
    "profile": ("customer.id", [("GET /v1/customers/{id}", "/v1/customers/{id}"),
                                ("GET /v1/customers/{id}/overview", "/v1/customers/{id}/overview")]),
    "loyalty": ("loyalty_member.customer_id", [("GET /v1/members/{id}", "/v1/members/{id}")]),
    "feedback": ("invitation.token", [("GET /v1/surveys/invitations/{token}", "/v1/surveys/invitations/{id}")]),
    "complaints": ("complaint.id", [("GET /v1/complaints/{id}", "/v1/complaints/{id}")]),
}


async def publish(svc: Served, events: list) -> None:  # noqa: ANN001
    bus = KafkaBus(KAFKA, prefix=svc.topic_prefix)
    try:
        records = []
        for data in events:
            envelope = new_event(data, source="bench", subject=data.customer_id)
            records.append(Record(envelope.topic, data.customer_id, envelope.to_bytes()))
        await bus.publish(records)
    finally:
        await bus.stop()


def booking(rng: random.Random, customer: str, ref: str, end: date | None = None) -> BookingCompleted:
    pid, name, dest, tags = rng.choice(PRODUCTS)
    start = datetime.now(timezone.utc) - timedelta(days=rng.randint(10, 700))
    return BookingCompleted(booking_id=ref, customer_id=customer, channel="app",
                            product=Product(id=pid, name=name, kind="tour", destination=dest, tags=tags),
                            amount=Decimal(f"{rng.randint(800, 9000)}.00"), completed_at=start,
                            travel_start=(end or start.date()) - timedelta(days=4), travel_end=end or start.date())


async def until(check, what: str) -> None:  # noqa: ANN001
    for _ in range(900):
        if await check():
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"seeding: {what} never arrived")


async def new_customer(svc: Served, i: int, rng: random.Random) -> str:
    body = {"name": rng.choice(SURNAMES) + "小" + str(i), "phones": [f"+86139{i:08d}"],
            "emails": [f"c{i}@example.cn"], "external_ids": [{"source": "web", "id": f"W{i}"}]}
    created = await svc.client.post("/v1/customers", json=body)
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def new_complaint(svc: Served, customer: str, booking_id: str) -> str:
    body = {"customer_id": customer, "channel": "phone", "trip_phase": "after", "booking_id": booking_id,
            "product_id": "P-GUILIN", "destination": "桂林", "summary": "导游强制购物",
            "description": "The guide took us to three shops and would not leave.",
            "occurred_at": "2026-11-20T03:00:00Z", "attachments": [{"url": "s3://evidence/receipt.jpg"}]}
    created = await svc.client.post("/v1/complaints", json=body)
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def seed_profile(svc: Served, n: int, rng: random.Random) -> list[str]:
    ids, events = [], []
    for i in range(n):
        ids.append(await new_customer(svc, i, rng))
        events += [booking(rng, ids[-1], f"B-{i}-{t}") for t in range(rng.randint(1, 3))]
    await publish(svc, events)

    async def arrived() -> bool:
        page = await svc.client.get(f"/v1/customers/{ids[-1]}/bookings")
        return page.status_code == 200 and bool(page.json()["items"])
    await until(arrived, "bookings")
    return ids


async def seed_loyalty(svc: Served, n: int, rng: random.Random) -> list[str]:
    ids = [f"cust-{i:05d}" for i in range(n)]
    await publish(svc, [CustomerRegistered(customer_id=c) for c in ids])
    for c in ids:
        async def enrolled() -> bool:
            return (await svc.client.post("/v1/members", json={"customer_id": c})).status_code in (200, 201)
        await until(enrolled, "customer-registered")
    await publish(svc, [booking(rng, c, f"B-{c}") for c in ids])  # some points and a history
    return ids


async def seed_feedback(svc: Served, n: int, rng: random.Random) -> list[str]:
    ended = date.today() - timedelta(days=5)
    await publish(svc, [booking(rng, f"cust-{i:05d}", f"B-{i}", ended) for i in range(n)])
    connection = await asyncpg.connect(database_url(svc.database))
    try:
        async def scheduled() -> bool:
            return await connection.fetchval("SELECT count(*) FROM invitation") >= n
        await until(scheduled, "invitations")
        await connection.execute("UPDATE invitation SET status = 'sent', sent_at = now(), "
                                 "expires_at = now() + interval '30 days'")
        return [r["token"] for r in await connection.fetch("SELECT token FROM invitation")]
    finally:
        await connection.close()


async def seed_complaints(svc: Served, n: int, rng: random.Random) -> list[str]:
    return [await new_complaint(svc, f"cust-{i:05d}", f"B-{i}") for i in range(n)]


def measure(svc: Served, args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, float]:
    """req/s, p50 ms, p99 ms of one wrk run, and the server's CPU time per request (µs): the figure that
    other load on this shared machine disturbs least."""
    if os.environ.get("BENCH_PROFILE"):  # py-spy the server during each run: BENCH_PROFILE=/tmp/dir
        name = re.sub(r"\W+", "_", (env or {}).get("BENCH_PATH", "live")).strip("_")
        subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(svc.pid), "-r", "200",
                          "-d", args[args.index("-d") + 1].rstrip("s"), "-f", "raw",
                          "-o", f"{os.environ['BENCH_PROFILE']}/{svc.url.rsplit(':', 1)[1]}_{name}.txt"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wrk(["-t1", *[a if a != args[args.index("-d") + 1] else "2s" for a in args]], env)  # warm: pool, statements
    cpu = svc.cpu_seconds()
    out = wrk(["-t1", "--latency", *args], env)
    cpu = svc.cpu_seconds() - cpu
    rate = requests_per_second(out)
    served_requests = int(re.search(r"(\d+) requests in", out).group(1))
    if not served_requests:
        raise RuntimeError(f"no answers in the whole run:\n{out}")

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return rate, ms("50%"), ms("99%"), cpu / served_requests * 1e6


async def bench_service(service: str, entities: int, seconds: int, connections: list[int], workers: int) -> list[str]:
    floor_target, reads = READS[service]
    rng = random.Random(7)
    async with served(service, workers=workers, env={"TOURCRM_BENCH_FLOOR": floor_target}) as svc:
        ids = await globals()[f"seed_{service}"](svc, entities, rng)
        await asyncio.sleep(2)  # the consumer's tail of the seed
        await first_answers(svc, reads, ids[0])
        lines = []
        for connected in connections:
            lines += run_reads(svc, service, reads, ids, seconds, connected)
    return lines


async def first_answers(svc: Served, reads: list[tuple[str, str]], ident: str) -> None:
    """One answer of each read before timing (whatever loads on first use has loaded); a kept-alive connection
    that the server closed meanwhile is opened again."""
    for _, path in reads:
        for attempt in range(3):
            try:
                answer = await svc.client.get(path.replace("{id}", ident), timeout=120)
                break
            except httpx.TransportError:
                if attempt == 2:
                    raise
        assert answer.status_code == 200, answer.text


def run_reads(svc: Served, service: str, reads: list[tuple[str, str]], ids: list[str], seconds: int,
              connections: int) -> list[str]:
    """The two floors and the reads of one server at one number of connections, as report lines."""
    c, d, tag = str(connections), f"{seconds}s", f"{service} c={connections}"
    env = {"BENCH_KEY": svc.key, "BENCH_IDS": ",".join(ids)}
    random_get = ["-c", c, "-d", d, "-s", script("get_random.lua"), svc.url]
    live = measure(svc, ["-c", c, "-d", d, f"{svc.url}/health/live"])
    raw = measure(svc, random_get, {**env, "BENCH_PATH": "/bench/floor/{id}"})
    lines = [line(tag, "floor GET /health/live", live), line(tag, "floor raw-driver PK read", raw)]
    for label, path in reads:
        figures = measure(svc, random_get, {**env, "BENCH_PATH": path})
        lines.append(line(tag, label, figures) + f"  ({figures[0] / raw[0]:.2f} of raw floor, "
                     f"{figures[0] / live[0]:.2f} of /health/live; CPU {figures[3] / raw[3]:.1f}× the raw floor's)")
    for text in lines:
        print(text, flush=True)
    return lines


@asynccontextmanager
async def embedded() -> AsyncIterator[dict[str, Served]]:
    """`tourcrm run` (embedded mode: SQLite files in a scratch directory, the in-process bus) on free ports."""
    key, offset = "tcrm_bench_" + os.urandom(16).hex(), free_offset()
    with tempfile.TemporaryDirectory(prefix="reads-embedded-") as var:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
        env.update({"TOURCRM_VAR_DIR": var, "TOURCRM_PORT_OFFSET": str(offset), "TOURCRM_ENVIRONMENT": "test",
                    "TOURCRM_LOG_LEVEL": "WARNING", "TOURCRM_BENCH_FLOOR": ",".join(f"{s}={READS[s][0]}" for s in READS),
                    "TOURCRM_API_KEYS": json.dumps([{"client": "bench", "key_sha256": hash_key(key),
                                                     "scopes": list(all_scopes())}])})
        server = subprocess.Popen([sys.executable, "-m", "tourcrm.cli", "run", "--no-demo"], cwd=REPO, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{spec(s).port + offset}", timeout=60,
                                     headers={"Authorization": f"Bearer {key}"}) for s in SERVICES]
        try:
            for client in clients:
                await until(lambda c=client: ready(c), "embedded start")
            yield {s: Served(str(c.base_url).rstrip("/"), key, c, server.pid, f"{var}/{s}.db", "")
                   for s, c in zip(SERVICES, clients)}
        finally:
            server.terminate()
            server.wait(timeout=30)
            for client in clients:
                await client.aclose()


async def ready(client: httpx.AsyncClient) -> bool:
    try:
        return (await client.get("/health/ready")).status_code == 200
    except httpx.TransportError:
        return False


async def seed_embedded(svcs: dict[str, Served], n: int, rng: random.Random) -> dict[str, list[str]]:
    """Customers with bookings (one ended five days ago: its survey invitation), their members, complaints."""
    profile, ended = svcs["profile"], date.today() - timedelta(days=5)
    customers, items = [], []
    for i in range(n):
        customers.append(await new_customer(profile, i, rng))
        items += [{"type": "booking-completed", "data": booking(rng, customers[-1], f"B-{i}-{t}", ended if t == 0 else None)
                   .model_dump(mode="json")} for t in range(rng.randint(1, 3))]
    for start in range(0, len(items), 500):
        batch = await profile.client.post("/v1/bookings/batch", json={"items": items[start:start + 500]})
        assert batch.status_code == 200 and not batch.json()["rejected"], batch.text
    for c in customers:
        async def enrolled(c: str = c) -> bool:
            return (await svcs["loyalty"].client.post("/v1/members", json={"customer_id": c})).status_code in (200, 201)
        await until(enrolled, "customer-registered")
    tokens = await _invitations_sent(svcs["feedback"].database, n)
    complaints = [await new_complaint(svcs["complaints"], c, f"B-{i}-0") for i, c in enumerate(customers)]
    return {"profile": customers, "loyalty": customers, "feedback": tokens, "complaints": complaints}


async def _invitations_sent(path: str, n: int) -> list[str]:
    """Feedback's scheduled invitations, marked sent in its SQLite file (as `seed_feedback` does on PostgreSQL)."""
    connection = sqlite3.connect(path, timeout=30)
    try:
        async def scheduled() -> bool:
            return connection.execute("SELECT count(*) FROM invitation").fetchone()[0] >= n
        await until(scheduled, "invitations")
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        with connection:
            connection.execute("UPDATE invitation SET status = 'sent', sent_at = ?, expires_at = ?",
                               (now.isoformat(" "), (now + timedelta(days=30)).isoformat(" ")))
        return [token for (token,) in connection.execute("SELECT token FROM invitation")]
    finally:
        connection.close()


async def bench_embedded(services: list[str], entities: int, seconds: int, connections: list[int]) -> None:
    async with embedded() as svcs:
        ids = await seed_embedded(svcs, entities, random.Random(7))
        await asyncio.sleep(2)
        for service in services:
            await first_answers(svcs[service], READS[service][1], ids[service][0])
        for connected in connections:
            for service in services:
                run_reads(svcs[service], f"embedded {service}", READS[service][1], ids[service], seconds, connected)


def line(service: str, label: str, figures: tuple[float, float, float, float]) -> str:
    rate, p50, p99, cpu = figures
    return f"{service}: {label:36} {rate:7.0f} req/s  p50 {p50:6.1f} ms  p99 {p99:7.1f} ms  CPU {cpu:6.0f} µs/req"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entities", type=int, default=200, help="seeded ids per service")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", default="64", help="wrk connections, comma-separated: each is one round")
    parser.add_argument("--workers", type=int, default=1, help="server processes per service (TOURCRM_WORKERS)")
    parser.add_argument("--only", default=",".join(READS), help="comma-separated services")
    parser.add_argument("--embedded", action="store_true", help="the one-process SQLite shape of `tourcrm run`")
    args = parser.parse_args()
    connections = [int(c) for c in args.connections.split(",")]
    if args.embedded:
        await bench_embedded(args.only.split(","), args.entities, args.seconds, connections)
        return
    for service in args.only.split(","):
        await bench_service(service, args.entities, args.seconds, connections, args.workers)


if __name__ == "__main__":
    asyncio.run(main())
