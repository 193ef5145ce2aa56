"""The scale curve: profile and loyalty with 10 k, 100 k and 1 M customers and a year of bookings.

    .venv/bin/python bench/scale_bench.py [--sizes 10000,100000,1000000] [--bookings 3] [--reads 1000]

For each size, fresh PostgreSQL databases are migrated and filled by a bulk loader (asyncpg binary COPY of the
services' own tables, secondary indexes dropped during the load and built after it; the tables stay logged), then
measured in the same run:
- floor: a `count(*)` over the booking table, the cheapest whole-population pass the database can make;
- the nightly value / churn run (`value_nightly.run`, in this process): the first, full run, and an incremental
  run the next day after a day's changes (0.8 % of the customers book once more, as 3 bookings a year give);
- reads: `GET /v1/customers/{id}` and `GET /v1/members/{id}` on random customers, one client, p50 / p99;
- segments: first page of members, the size, and the membership job's evaluation (first, then again unchanged);
- the profile consumer (its EventConsumer.process_batch with profile's hooks, in this process, no bus): a batch of
  500 booking-completed for existing customers, the first (the kept population is already loaded: the nightly run
  in this process read it) and the median of the next eight (CPU: their mean), which should stay flat with the
  population; and one full read of the stored buyers into a scoring population, what every batch paid before the
  population was kept in the process (and what loading it costs);
- the at-risk list (`GET /v1/at-risk`, first page) and loyalty's liability report;
- the size of each database.
Results go to bench/results/scale.json (merged with earlier sizes) and the plot bench/results/scale.png
(bench/scale_plot.py). The table ends with the growth per size: per customer for whole-population work (linear
is 1), absolute for reads and incremental work (flat is 1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

import asyncpg
from sqlalchemy import JSON

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale_plot import RESULTS, plot, table  # noqa: E402
from served import _serve, database_url, scratch_databases  # noqa: E402

from services.loyalty.models import LedgerEntry, Lot, Member  # noqa: E402
from services.profile import repository as repo, scoring, value_nightly  # noqa: E402
from services.profile.models import Booking, Consent, Customer, Product  # noqa: E402
from shared.app import Runtime  # noqa: E402
from shared.bus import MemoryBus, Record  # noqa: E402
from shared.db import make_engine, make_sessionmaker, migrate, transaction  # noqa: E402
from shared.events import BookingCompleted, Product as EventProduct, new_event  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tourcrm import settings_for, spec  # noqa: E402

NOW = datetime.now(timezone.utc).replace(microsecond=0)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
CITIES = ["北京", "上海", "广州", "深圳", "成都", "杭州", "西安", "重庆", "London", "Sydney"]
KINDS = ["tour", "hotel", "package"]
CHUNK = 50_000  # customers generated and copied at a time
Rows = Callable[[int, int, int, random.Random], dict[Any, list[dict]]]


def profile_rows(start: int, stop: int, per_customer: int, rng: random.Random) -> dict[Any, list[dict]]:
    """The varying columns of the customer, consent and booking rows of customers [start, stop)."""
    customers, consents, bookings = [], [], []
    for n in range(start, stop):
        cid = f"C{n:08d}"
        customers.append({"id": cid, "name": rng.choice(SURNAMES) + f"客{n}",
                          "address": json.dumps({"city": rng.choice(CITIES)}, ensure_ascii=False),
                          "birth_date": date(1960 + n % 45, 1 + n % 12, 1 + n % 28)})
        if n % 3 == 0:
            consents.append({"customer_id": cid})
        for b in range(rng.randint(1, 2 * per_customer - 1)):
            at = NOW - timedelta(days=rng.randint(1, 365), minutes=rng.randint(0, 1440))
            travel = (at + timedelta(days=10)).date()
            bookings.append({"booking_id": f"B{n:08d}-{b}", "customer_id": cid, "product_id": f"P-{rng.randrange(300):04d}",
                             "amount": Decimal(rng.randint(800, 20000)), "travel_start": travel,
                             "travel_end": travel + timedelta(days=4), "completed_at": at})
    return {Customer: customers, Consent: consents, Booking: bookings}


def loyalty_rows(start: int, stop: int, _: int, rng: random.Random) -> dict[Any, list[dict]]:
    members, entries, lots = [], [], []
    for n in range(start, stop):
        cid, points = f"C{n:08d}", rng.randint(100, 20000)
        members.append({"customer_id": cid, "tier": ["regular", "silver", "gold", "platinum"][n % 4], "balance": points,
                        "next_review_on": (NOW + timedelta(days=rng.randint(1, 365))).date()})
        entries.append({"id": n + 1, "customer_id": cid, "points": points, "cause_id": f"B{n:08d}-0",
                        "business_key": f"earn:B{n:08d}-0"})
        lots.append({"id": n + 1, "customer_id": cid, "entry_id": n + 1, "booking_id": f"B{n:08d}-0", "points": points,
                     "remaining": points, "expires_on": (NOW + timedelta(days=rng.randint(1, 730))).date()})
    return {Member: members, LedgerEntry: entries, Lot: lots}


# every other column of each table: the model's defaults, made once (JSON as text for COPY)
SAMPLES: dict[Any, dict[str, Any]] = {
    Customer: {"id": "", "kind": "individual", "preferences": {"interests": ["nature"]}, "tags": [], "created_at": NOW,
               "updated_at": NOW},
    Consent: {"customer_id": "", "channel": "app-push", "purpose": "profiling", "status": "granted", "changed_at": NOW},
    Booking: {"booking_id": "", "customer_id": "", "channel": "app", "product_id": "", "amount": Decimal(0),
              "currency": "CNY", "party_size": 2, "completed_at": NOW, "status": "completed"},
    Product: {"id": "", "name": "", "kind": "tour", "tags": [], "updated_at": NOW, "buyers": 0},
    Member: {"customer_id": "", "tier": "regular", "balance": 0, "next_review_on": NOW.date(), "tier_since": NOW,
             "enrolled_at": NOW, "updated_at": NOW},
    LedgerEntry: {"id": 0, "customer_id": "", "kind": "earn", "points": 0, "cause_type": "booking", "created_at": NOW},
    Lot: {"id": 0, "customer_id": "", "entry_id": 0, "points": 0, "remaining": 0, "expires_on": NOW.date(),
          "earned_at": NOW},
}


def _base(model: Any) -> tuple[list[str], list[Any]]:
    sample = model(**SAMPLES[model])
    columns = [c for c in model.__table__.columns]
    values = [json.dumps(getattr(sample, c.key)) if isinstance(c.type, JSON) else getattr(sample, c.key)
              for c in columns]
    return [c.name for c in columns], values


async def copy(connection: asyncpg.Connection, model: Any, rows: list[dict]) -> None:
    names, base = _base(model)
    records = [tuple(row.get(name, default) for name, default in zip(names, base)) for row in rows]
    await connection.copy_records_to_table(model.__tablename__, records=records, columns=names)


PRODUCTS = [{"id": f"P-{n:04d}", "name": f"线路 {n}", "kind": KINDS[n % 3], "destination": CITIES[n % len(CITIES)],
             "tags": '["nature"]' if n % 2 else '["history"]'} for n in range(300)]


async def _secondary_indexes(connection: asyncpg.Connection, tables: list[str]) -> list[tuple[str, str]]:
    """(name, definition) of the indexes on `tables` that back no constraint (primary and unique keys stay)."""
    return [tuple(r) for r in await connection.fetch(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' AND i.tablename = ANY($1) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)", tables)]


async def load(database: str, service: str, size: int, per_customer: int, rows: Rows, tables: list[Any]) -> None:
    """Migrate, drop the secondary indexes of `tables`, COPY the generated rows, build the indexes, ANALYZE."""
    engine = make_engine(database_url(database, "postgresql+asyncpg"))
    try:
        await migrate(engine, spec(service).migrations)
    finally:
        await engine.dispose()
    connection = await asyncpg.connect(database_url(database))
    try:
        indexes = await _secondary_indexes(connection, [t.__tablename__ for t in tables])
        for name, _ in indexes:
            await connection.execute(f'DROP INDEX "{name}"')
        if Product in tables:
            await copy(connection, Product, PRODUCTS)
        rng = random.Random(size)
        for start in range(0, size, CHUNK):
            for model, records in rows(start, min(size, start + CHUNK), per_customer, rng).items():
                if records:
                    await copy(connection, model, records)
        await connection.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            await connection.execute(definition)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def ok(request: Any) -> Any:
    answer = await request
    assert answer.status_code in (200, 201), answer.text[:500]
    return answer


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


async def a_days_changes(sessions: Any, size: int, rng: random.Random) -> int:
    """0.8 % of the customers book once more today, marked dirty in the same transaction as the booking."""
    changed = sorted(rng.sample(range(size), max(1, size * 3 // 365)))
    async with transaction(sessions) as session:
        session.add_all([Booking(booking_id=f"B{n:08d}-new", customer_id=f"C{n:08d}", channel="app",
                                 product_id="P-0001", amount=Decimal(5000), currency="CNY", party_size=2,
                                 completed_at=NOW + timedelta(hours=20), status="completed") for n in changed])
        await session.flush()
        await repo.mark_dirty(session, [f"C{n:08d}" for n in changed])
    return len(changed)


async def nightly(engine: Any, sessions: Any, figures: dict[str, float], size: int, rng: random.Random) -> None:
    async def run(now: datetime, label: str) -> None:
        started, cpu = time.perf_counter(), time.process_time()
        async with transaction(sessions) as session:
            done = await value_nightly.run(session, now=now, tz=session.info["settings"].tz)
        if done.mode == "full":  # as the job does (services/profile/jobs.run_nightly)
            await value_nightly.refresh_statistics(engine)
        figures[f"nightly_{label}_s"] = time.perf_counter() - started
        figures[f"nightly_{label}_cpu_s"] = time.process_time() - cpu
        figures[f"nightly_{label}_customers"] = done.customers
        figures[f"nightly_{label}_reranked"] = done.reranked
        figures[f"nightly_{label}_rerank_s"] = done.rerank_s

    await run(NOW, "full")
    figures["day_changes"] = await a_days_changes(sessions, size, rng)
    await run(NOW + timedelta(days=1), "incremental")


def booking_records(size: int, count: int, run: int, rng: random.Random) -> list[Record]:
    """`count` booking-completed events for random existing customers, as the bus hands them to a consumer."""
    out = []
    for i in range(count):
        cid = f"C{rng.randrange(size):08d}"
        product = EventProduct(id=f"P-{rng.randrange(300):04d}", name="线路", kind="tour", destination="成都", tags=[])
        data = BookingCompleted(booking_id=f"BQ{run}-{i}", customer_id=cid, amount=f"{rng.randint(800, 20000)}.00",
                                product=product, party_size=2,
                                completed_at=datetime.now(timezone.utc) - timedelta(seconds=i))
        out.append(Record(data.topic, cid, new_event(data, source="bench", subject=cid).to_bytes()))
    return out


async def consumer_batches(database: str, figures: dict[str, float], size: int, rng: random.Random) -> None:
    """The profile consumer's cost of a batch of 500 booking-completed: the first (on a new engine, the population
    kept since the nightly run), then the median of eight more (wall; CPU as the mean). Beside it, one full read of
    the stored buyers: what every batch paid before the population was kept in the process."""
    base = Settings(environment="test", database_url=database_url(database, "postgresql+asyncpg"))
    runtime = Runtime(spec("profile"), settings_for("profile", base), bus=MemoryBus())
    try:
        took = []
        for run in range(9):
            records = booking_records(size, 500, run, rng)
            started, cpu = time.perf_counter(), time.process_time()
            await runtime.consumer.process_batch(records)
            took.append((time.perf_counter() - started, time.process_time() - cpu))
        figures["consumer_batch_first_ms"] = 1000 * took[0][0]
        figures["consumer_batch_ms"] = 1000 * statistics.median(t for t, _ in took[1:])
        figures["consumer_batch_cpu_ms"] = 1000 * statistics.mean(c for _, c in took[1:])
        if hasattr(scoring, "full_population"):
            async with runtime.read_sessions() as session:
                started = time.perf_counter()
                await scoring.full_population(session, {})
                figures["population_full_read_s"] = time.perf_counter() - started
    finally:
        await runtime.engine.dispose()


async def floor(database: str) -> float:
    connection = await asyncpg.connect(database_url(database))
    try:
        started = time.perf_counter()
        await connection.fetchval("SELECT count(*) FROM booking")
        return time.perf_counter() - started
    finally:
        await connection.close()


async def segments(client: Any, figures: dict[str, float]) -> None:
    segment = (await ok(client.post("/v1/segments", json={
        "name": "valuable in Chengdu", "rules": [{"field": "city", "op": "eq", "value": "成都"},
                                                 {"field": "value_class", "op": "in", "value": ["most-valuable", "key"]}]
    }))).json()
    path = f"/v1/segments/{segment['id']}"
    figures["segment_page_s"] = await timed(lambda: ok(client.get(path + "/members", params={"limit": 100}, timeout=1800)))
    started = time.perf_counter()
    figures["segment_members"] = (await ok(client.get(path, timeout=1800))).json()["size"]
    figures["segment_size_s"] = time.perf_counter() - started
    figures["segment_evaluate_first_s"] = await timed(lambda: ok(client.post(path + "/evaluate", timeout=1800)))
    figures["segment_evaluate_again_s"] = await timed(lambda: ok(client.post(path + "/evaluate", timeout=1800)))


async def measure(size: int, per_customer: int, read_count: int) -> dict[str, float]:
    rng = random.Random(size)
    figures: dict[str, float] = {"load_average": os.getloadavg()[0]}
    async with scratch_databases(2, prefix="scale") as (profile_db, loyalty_db):
        started = time.perf_counter()
        await asyncio.gather(load(profile_db, "profile", size, per_customer, profile_rows, [Product, Customer, Consent,
                                                                                           Booking]),
                             load(loyalty_db, "loyalty", size, per_customer, loyalty_rows, [Member, LedgerEntry, Lot]))
        figures["load_s"] = time.perf_counter() - started
        figures["floor_count_bookings_s"] = await floor(profile_db)
        engine = make_engine(database_url(profile_db, "postgresql+asyncpg"))
        try:
            await nightly(engine, make_sessionmaker(engine, settings=Settings(service="profile")), figures, size, rng)
        finally:
            await engine.dispose()
        await consumer_batches(profile_db, figures, size, rng)
        ids = [f"C{n:08d}" for n in rng.sample(range(size), min(size, 5000))]
        async with _serve("profile", profile_db) as profile:
            figures["file_p50_ms"], figures["file_p99_ms"] = await reads(profile.client, "/v1/customers/{id}", ids,
                                                                         read_count, rng)
            await segments(profile.client, figures)
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


def _stored(name: str) -> dict[str, dict[str, float]]:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else {}


def sizes(text: str) -> Iterator[int]:  # noqa: D103
    return (int(s) for s in text.split(","))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--bookings", type=int, default=3, help="bookings per customer on average")
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--out", default="scale.json", help="results file in bench/results (the plot beside it)")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = _stored(args.out)
    for size in sizes(args.sizes):
        results[str(size)] = await measure(size, args.bookings, args.reads)
        print(size, json.dumps({k: round(v, 4) for k, v in results[str(size)].items()}), flush=True)
        (RESULTS / args.out).write_text(json.dumps(results, indent=1, sort_keys=True))
        plot(results, RESULTS / Path(args.out).with_suffix(".png").name)
    print(table(results))


if __name__ == "__main__":
    asyncio.run(main())
