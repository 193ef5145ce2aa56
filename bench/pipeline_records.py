"""The booking-completed records the pipeline benches produce, and the check that nothing was lost or doubled.

Shared by bench/pipeline_bench.py (throughput, embedded mode) and bench/pipeline_lag.py (lag at a steady rate)."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer

from served import KAFKA
from shared.db import utcnow
from shared.events import BookingCompleted, Product, new_event

SERVICES = ("profile", "loyalty", "feedback", "complaints")


# per service: SQL counting the bookings it holds (one row per booking id: doubles cannot hide)
BOOKINGS_HELD = {
    "profile": "SELECT count(*) FROM booking",
    "loyalty": "SELECT count(*) FROM loyalty_booking",
    "feedback": "SELECT count(*) FROM invitation WHERE kind = 'post-trip'",
    "complaints": "SELECT count(*) FROM complaint_booking",
}


PRODUCTS = [Product(id=f"P-{n}", name=f"线路{n}", kind=kind, destination=dest, tags=["nature"])
            for n, (kind, dest) in enumerate([("tour", "桂林"), ("hotel", "三亚"), ("cruise", "长江"), ("tour", "西安")])]


def record(i: int, customers: int, run: str, rng: random.Random) -> tuple[bytes, bytes]:
    """(key, value) of booking-completed number i: a customer of `customers`, a product, an amount, a past date."""
    customer = f"pc-{run}-{i % customers}"
    data = BookingCompleted(booking_id=f"PB-{run}-{i:08d}", customer_id=customer, amount=f"{rng.randint(200, 9000)}.00",
                            product=rng.choice(PRODUCTS), party_size=2,
                            completed_at=utcnow() - timedelta(minutes=rng.randint(1, 2880)))  # a live stream: recent
    return customer.encode(), new_event(data, source="booking-web", subject=customer).to_bytes()


async def producer() -> AIOKafkaProducer:
    p = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True, linger_ms=5,
                         max_batch_size=256 * 1024)
    await p.start()
    return p


async def produce(topic: str, records: list[tuple[bytes, bytes]]) -> float:
    """All records as fast as the producer batches them; records/s."""
    p = await producer()
    started = time.perf_counter()
    try:
        futures = [await p.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futures)
    finally:
        await p.stop()
    return len(records) / (time.perf_counter() - started)


def pyspy(pid: int, path: str) -> subprocess.Popen:
    """py-spy sampling the served process (and its children) into a collapsed-stack file, idle samples included
    (where the wall time goes: a consumer waiting on the database shows as waiting)."""
    spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen([str(spy), "record", "--pid", str(pid), "--subprocesses", "--rate", "50", "--format", "raw", "--idle",
                             "--output", path, "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


Query = Callable[[str, str], Awaitable[list[tuple]]]  # (service, SQL) -> rows


def on_postgres(dbs: dict[str, asyncpg.Connection]) -> Query:
    async def query(service: str, sql: str) -> list[tuple]:
        return [tuple(row) for row in await dbs[service].fetch(sql)]
    return query


async def check(query: Query, n: int) -> list[str]:
    """Nothing lost or doubled: per service its inbox and its booking rows; loyalty one earn entry per booking."""
    await asyncio.sleep(1)  # a late double would show by now
    lines = []
    for name in SERVICES:
        [(applied,)] = await query(name, "SELECT count(*) FROM inbox WHERE event_type = 'booking-completed'")
        [(held,)] = await query(name, BOOKINGS_HELD[name])
        lines.append(f"{name}: inbox {applied}, bookings {held}" + ("" if applied == held == n else "  <-- MISMATCH"))
        others = await query(name, "SELECT event_type, count(*) FROM inbox WHERE event_type <> 'booking-completed' "
                                   "GROUP BY event_type ORDER BY 2 DESC")
        if others:
            lines.append(f"  {name} also applied: " + ", ".join(f"{t} {c}" for t, c in others))
    [earned] = await query("loyalty",
        "SELECT count(*), count(DISTINCT cause_id) FROM loyalty_entry WHERE kind = 'earn' AND cause_type = 'booking'")
    lines.append(f"loyalty earn entries for bookings (rows, distinct bookings): {earned}"
                 + ("" if earned == (n, n) else "  <-- MISMATCH"))
    return lines
