"""The scale curve: profile and loyalty with 10 k, 100 k (and 1 M) customers and a year of bookings.

    .venv/bin/python bench/scale_bench.py [--sizes 10000,100000] [--bookings 3] [--reads 2000]

For each size, fresh PostgreSQL databases are migrated and filled by a bulk loader (asyncpg COPY of the
services' own tables, not the API: a million customers through HTTP would take hours), then measured in
the same run:
- reads: `GET /v1/customers/{id}` and `GET /v1/members/{id}` on random customers, one client, p50 / p99;
- segment evaluation: `GET /v1/segments/{id}/members` of a rule over value and city (the first page);
- the nightly value / churn recompute (`scoring.recompute_all`, in this process): rows/s and total time;
- the at-risk list (`GET /v1/at-risk`, first page) and loyalty's liability report;
- the size of each database.
The table ends with each cost per customer relative to the smallest size: a figure that grows with the size
is work that does not scale with the data it needs (a scan where an index or an incremental step belongs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import JSON

sys.path.insert(0, str(Path(__file__).resolve().parent))

from served import _serve, database_url, scratch_databases  # noqa: E402

from services.loyalty.models import LedgerEntry, Lot, Member  # noqa: E402
from services.profile import scoring  # noqa: E402
from services.profile.models import Booking, Consent, Customer, Product  # noqa: E402
from shared.db import make_engine, migrate, transaction  # noqa: E402
from tourcrm import spec  # noqa: E402

NOW = datetime.now(timezone.utc)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
CITIES = ["北京", "上海", "广州", "深圳", "成都", "杭州", "西安", "重庆", "London", "Sydney"]
KINDS = ["tour", "hotel", "package"]


def rows_of(model: Any, objects: list[Any]) -> tuple[list[str], list[tuple]]:
    """Column names and COPY records of SQLModel objects (JSON as text, autoincrement ids left out)."""
    columns = [c for c in model.__table__.columns if not (c.primary_key and c.autoincrement is True
                                                          and getattr(objects[0], c.key) is None)]
    def value(obj: Any, column: Any) -> Any:
        v = getattr(obj, column.key)
        return json.dumps(v) if isinstance(column.type, JSON) else v
    return [c.name for c in columns], [tuple(value(o, c) for c in columns) for o in objects]


async def copy(connection: asyncpg.Connection, model: Any, objects: list[Any]) -> None:
    for start in range(0, len(objects), 50_000):
        names, records = rows_of(model, objects[start:start + 50_000])
        await connection.copy_records_to_table(model.__tablename__, records=records, columns=names)


def profile_rows(size: int, per_customer: int, rng: random.Random) -> dict[Any, list[Any]]:
    products = [Product(id=f"P-{n:04d}", name=f"线路 {n}", kind=KINDS[n % 3], destination=CITIES[n % len(CITIES)],
                        tags=["nature"] if n % 2 else ["history"], updated_at=NOW, buyers=0) for n in range(300)]
    customers, bookings, consents = [], [], []
    for n in range(size):
        cid = f"C{n:08d}"
        customers.append(Customer(id=cid, name=rng.choice(SURNAMES) + f"客{n}", kind="individual",
                                  preferences={"interests": ["nature"]}, tags=[], address={"city": rng.choice(CITIES)},
                                  birth_date=date(1960 + n % 45, 1 + n % 12, 1 + n % 28), created_at=NOW, updated_at=NOW))
        if n % 3 == 0:
            consents.append(Consent(customer_id=cid, channel="app-push", purpose="profiling", status="granted",
                                    changed_at=NOW))
        for b in range(rng.randint(1, 2 * per_customer - 1)):
            at = NOW - timedelta(days=rng.randint(1, 365), minutes=rng.randint(0, 1440))
            start = (at + timedelta(days=10)).date()
            bookings.append(Booking(booking_id=f"B{n:08d}-{b}", customer_id=cid, channel="app",
                                    product_id=products[rng.randrange(300)].id, amount=Decimal(rng.randint(800, 20000)),
                                    currency="CNY", party_size=2, travel_start=start, travel_end=start + timedelta(days=4),
                                    completed_at=at, status="completed"))
    return {Product: products, Customer: customers, Consent: consents, Booking: bookings}


def loyalty_rows(size: int, rng: random.Random) -> dict[Any, list[Any]]:
    members, entries, lots = [], [], []
    for n in range(size):
        cid, points = f"C{n:08d}", rng.randint(100, 20000)
        members.append(Member(customer_id=cid, tier=["regular", "silver", "gold", "platinum"][n % 4], balance=points,
                              next_review_on=(NOW + timedelta(days=rng.randint(1, 365))).date(), tier_since=NOW,
                              enrolled_at=NOW, updated_at=NOW))
        entries.append(LedgerEntry(id=n + 1, customer_id=cid, kind="earn", points=points, cause_type="booking",
                                   cause_id=f"B{n:08d}-0", business_key=f"earn:B{n:08d}-0", created_at=NOW))
        lots.append(Lot(id=n + 1, customer_id=cid, entry_id=n + 1, booking_id=f"B{n:08d}-0", points=points,
                        remaining=points, expires_on=(NOW + timedelta(days=rng.randint(1, 730))).date(), earned_at=NOW))
    return {Member: members, LedgerEntry: entries, Lot: lots}


async def load(database: str, service: str, tables: dict[Any, list[Any]]) -> None:
    engine = make_engine(database_url(database, "postgresql+asyncpg"))
    try:
        await migrate(engine, spec(service).migrations)
    finally:
        await engine.dispose()
    connection = await asyncpg.connect(database_url(database))
    try:
        for model, objects in tables.items():
            if objects:
                await copy(connection, model, objects)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def ok(request: Any) -> None:
    answer = await request
    assert answer.status_code == 200, answer.text[:500]


async def timed(call: Any) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def reads(client: Any, path: str, ids: list[str], count: int, rng: random.Random) -> tuple[float, float]:
    took = []
    for _ in range(count):
        started = time.perf_counter()
        answer = await client.get(path.format(id=rng.choice(ids)))
        took.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.text
    quantiles = statistics.quantiles(took, n=100)
    return quantiles[49] * 1000, quantiles[98] * 1000


async def measure(size: int, per_customer: int, read_count: int) -> dict[str, float]:
    rng = random.Random(size)
    async with scratch_databases(2, prefix="scale") as (profile_db, loyalty_db):
        started = time.perf_counter()
        await load(profile_db, "profile", profile_rows(size, per_customer, rng))
        await load(loyalty_db, "loyalty", loyalty_rows(size, rng))
        figures: dict[str, float] = {"load_s": time.perf_counter() - started}
        engine = make_engine(database_url(profile_db, "postgresql+asyncpg"))
        try:
            from sqlalchemy.ext.asyncio import async_sessionmaker
            from sqlmodel.ext.asyncio.session import AsyncSession
            sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

            async def nightly() -> None:
                async with transaction(sessions) as session:
                    figures["recomputed"] = await scoring.recompute_all(session, now=NOW)
            figures["nightly_s"] = await timed(nightly)
        finally:
            await engine.dispose()
        ids = [f"C{n:08d}" for n in rng.sample(range(size), min(size, 5000))]
        async with _serve("profile", profile_db) as profile:
            figures["file_p50_ms"], figures["file_p99_ms"] = await reads(profile.client, "/v1/customers/{id}", ids,
                                                                         read_count, rng)
            segment = (await profile.client.post("/v1/segments", json={
                "name": "high value in Chengdu", "rules": [{"field": "city", "op": "eq", "value": "成都"},
                                                            {"field": "value_class", "op": "in", "value": ["A", "B"]}]}))
            assert segment.status_code == 201, segment.text
            path = f"/v1/segments/{segment.json()['id']}/members"
            figures["segment_s"] = await timed(lambda: ok(profile.client.get(path, params={"limit": 100}, timeout=1800)))
            figures["at_risk_s"] = await timed(lambda: ok(profile.client.get("/v1/at-risk", params={"limit": 100},
                                                                             timeout=1800)))
            figures["profile_mb"] = await _size(profile_db)
        async with _serve("loyalty", loyalty_db) as loyalty:
            figures["member_p50_ms"], figures["member_p99_ms"] = await reads(loyalty.client, "/v1/members/{id}", ids,
                                                                             read_count, rng)
            figures["liability_s"] = await timed(lambda: ok(loyalty.client.get("/v1/reports/liability", timeout=1800)))
            figures["loyalty_mb"] = await _size(loyalty_db)
    return figures


async def _size(database: str) -> float:
    connection = await asyncpg.connect(database_url(database))
    try:
        return await connection.fetchval("SELECT pg_database_size(current_database())") / 2**20
    finally:
        await connection.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--bookings", type=int, default=3, help="bookings per customer on average")
    parser.add_argument("--reads", type=int, default=2000)
    args = parser.parse_args()
    results = {}
    for size in map(int, args.sizes.split(",")):
        results[size] = await measure(size, args.bookings, args.reads)
        print(size, json.dumps({k: round(v, 3) for k, v in results[size].items()}), flush=True)
    base = min(results)
    largest = max(results)
    print(f"\n| measure | {' | '.join(f'{s:,}' for s in results)} | growth, largest ÷ smallest |")
    print(f"|---|{'---|' * len(results)}---|")
    for name in results[base]:
        cells = " | ".join(f"{results[s][name]:,.3f}" for s in results)
        if not results[base][name]:
            continue
        growth = results[largest][name] / results[base][name]
        if name.endswith("_ms"):  # a single read: should not grow at all
            note = f"{growth:.2f} (flat is 1)"
        else:  # a whole-population job or report: should grow no faster than the customers
            note = f"{growth / (largest / base):.2f} per customer (linear is 1)"
        print(f"| {name} | {cells} | {note} |")


if __name__ == "__main__":
    asyncio.run(main())
