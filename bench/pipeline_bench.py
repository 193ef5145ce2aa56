"""The whole event pipeline: booking-completed on Kafka until every consuming service has applied each one.

    .venv/bin/python bench/pipeline_bench.py [--events 100000] [--customers 5000] [--pyspy profile]
    .venv/bin/python bench/pipeline_bench.py --steady 500 [--seconds 60]     # lag at a steady rate
    .venv/bin/python bench/pipeline_bench.py --embedded [--events 20000]    # embedded mode: SQLite + MemoryBus
    .venv/bin/python bench/pipeline_bench.py --pg-cost [...]                # and where PostgreSQL's time went

Profile, loyalty, feedback and complaints each run as their own process (`tourcrm serve <name>`,
bench/served.py) on their own PostgreSQL database, all on one topic prefix (one pipeline: what a service
emits reaches the others). A plain aiokafka producer (batched, linger 5 ms) writes N booking-completed
records over `--customers` customers; each service's rate is steady, from its first applied event to its
last (counted in its inbox, which commits with the effect). Then nothing lost or doubled is checked: per
service N inbox rows and N booking rows (profile `booking`, loyalty `loyalty_booking`, complaints
`complaint_booking`, feedback's post-trip `invitation`s), loyalty one earn entry per booking.

Floor, same run, before the services start: a plain aiokafka consumer in this process that reads the same
records and writes one row per record with one batched asyncpg insert per poll, committing offsets after it.

--steady R: R records/s for --seconds; the lag of each record is from its Kafka timestamp to the moment the
transaction that wrote its booking row (and commits its points) in loyalty's database committed, heard through
a PostgreSQL notification (a trigger the bench adds); p50 / p99 / max.

--embedded: the figure a small agency on one box gets (`tourcrm run`): the four services' runtimes in this one
process, each on its own SQLite file under a scratch directory, over one in-process bus (MemoryBus); the N
records are published onto the bus as the relay of an HTTP ingest would, and each service's rate and the same
lost/doubled check are read from its SQLite inbox. CPU is the whole process's per booking (all four services).
Floor, same process, same run, before the services start: a consumer of the same MemoryBus that inserts one row
per record into a SQLite file by one executemany per batch (aiosqlite, as the services use) and commits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import pg_cost  # noqa: E402
from pipeline_lag import lag_run  # noqa: E402
from pipeline_records import SERVICES, check, on_postgres, produce, pyspy, record  # noqa: E402
from served import KAFKA, _serve, cpu_seconds, database_url, scratch_databases, steady_rate  # noqa: E402
from shared.bus import MemoryBus, Record  # noqa: E402
from shared.events import BOOKINGS  # noqa: E402


async def floor(topic: str, n: int, database: str) -> float:
    """Plain aiokafka consumer + one batched asyncpg insert per poll, offsets committed after; steady rows/s."""
    db = await asyncpg.connect(database_url(database))
    await db.execute("CREATE TABLE floor (booking_key text, event bytea, part int, off bigint)")
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=KAFKA, group_id=f"floor-{uuid.uuid4().hex[:6]}",
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                fetch_min_bytes=64 * 1024, fetch_max_wait_ms=50)
    await consumer.start()
    seen, started = 0, None
    try:
        while seen < n:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            rows = [(r.key.decode(), r.value, r.partition, r.offset) for records in batches.values() for r in records]
            if rows:
                await db.executemany("INSERT INTO floor VALUES ($1, $2, $3, $4)", rows)
                await consumer.commit()
                if started is None:
                    started, first = time.perf_counter(), len(rows)
                seen += len(rows)
        return (n - first) / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await db.close()


async def throughput(args: argparse.Namespace, prefix: str, dbs: dict[str, asyncpg.Connection],
                     records: list[tuple[bytes, bytes]], pids: dict[str, int]) -> dict[str, tuple[float, float]]:
    """Per service: (steady events/s, its process's CPU ms per booking-completed over the whole run)."""
    n = len(records)
    cpu = {s: cpu_seconds(pid) for s, pid in pids.items()}
    spy = pyspy(pids[args.pyspy], f"/tmp/pipeline-{args.pyspy}.txt") if args.pyspy else None
    inbox = "SELECT count(*) FROM inbox WHERE event_type = 'booking-completed'"
    rates = asyncio.gather(*(steady_rate(lambda c=dbs[s]: c.fetchval(inbox), n, poll=0.2) for s in SERVICES))
    produced = await produce(prefix + BOOKINGS, records)
    print(f"produced {n} records at {produced:,.0f} records/s", flush=True)
    try:
        done = dict(zip(SERVICES, await asyncio.wait_for(rates, args.timeout)))
        return {s: (rate, (cpu_seconds(pids[s]) - cpu[s]) * 1000 / n) for s, rate in done.items()}
    finally:
        if spy:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            spy.wait(timeout=30)


async def embedded_floor(records: list[tuple[bytes, bytes]], path: Path) -> float:
    """A consumer of the in-process bus that inserts one row per record into SQLite, one executemany and commit per
    batch (aiosqlite, as the services use); steady rows/s."""
    import aiosqlite
    from shared.metrics import Metrics

    bus, topic, n = MemoryBus(), "floor", len(records)
    db = await aiosqlite.connect(path)
    await db.execute("CREATE TABLE floor (booking_key text, event blob, part int, off int)")
    seen, started, first, done = 0, 0.0, 0, asyncio.Event()

    async def insert(batch: list[Record]) -> None:
        nonlocal seen, started, first
        await db.executemany("INSERT INTO floor VALUES (?, ?, ?, ?)",
                             [(r.key, r.value, r.partition, r.offset) for r in batch])
        await db.commit()
        if not started:  # steady: from the first committed batch on, as the services are timed
            started, first = time.perf_counter(), len(batch)
        seen += len(batch)
        if seen >= n:
            done.set()

    consumer = bus.consumer("floor", [topic], insert, metrics=Metrics("floor"))
    await consumer.start()
    try:
        await bus.publish([Record(topic, key.decode(), value) for key, value in records])
        await done.wait()
        return (n - first) / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await db.close()


async def embedded(args: argparse.Namespace, records: list[tuple[bytes, bytes]]) -> None:
    """--embedded: the four services' runtimes in this process on SQLite over one MemoryBus (as `tourcrm run`)."""
    import tempfile
    from sqlalchemy import text
    from shared.app import Runtime
    from shared.logging import configure
    from shared.settings import Settings
    from tourcrm import settings_for, spec

    configure("WARNING")
    n = len(records)
    with tempfile.TemporaryDirectory(prefix="pipe-embedded-") as var:
        print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)
        floor_rate = await embedded_floor(records, Path(var) / "floor.db")
        print(f"floor: MemoryBus consumer + one SQLite executemany and commit per batch: {floor_rate:,.0f} rows/s",
              flush=True)
        bus = MemoryBus()
        base = Settings(environment="test", var_dir=Path(var), log_level="WARNING")
        runtimes = {s: Runtime(spec(s), settings_for(s, base), bus=bus) for s in SERVICES}
        for runtime in runtimes.values():
            await runtime.start()

        async def query(service: str, sql: str) -> list[tuple]:
            async with runtimes[service].engine.execution_options(readonly=True).connect() as conn:  # no write lock
                return [tuple(row) for row in await conn.execute(text(sql))]

        async def applied(service: str) -> int:
            return (await query(service, "SELECT count(*) FROM inbox WHERE event_type = 'booking-completed'"))[0][0]

        try:
            cpu = time.process_time()
            rates = asyncio.gather(*(steady_rate(lambda s=s: applied(s), n, poll=0.2) for s in SERVICES))
            for i in range(0, n, 500):  # as a relay publishes: batches of 500
                await bus.publish([Record(BOOKINGS, key.decode(), value) for key, value in records[i:i + 500]])
            done = dict(zip(SERVICES, await asyncio.wait_for(rates, args.timeout)))
            ms = (time.process_time() - cpu) * 1000 / n
            for name, rate in done.items():
                print(f"{name:<11} {rate:9,.0f} ev/s   {rate / floor_rate:.3f} of floor")
            slowest = min(done, key=done.__getitem__)
            print(f"slowest: {slowest} {done[slowest]:,.0f} ev/s, {done[slowest] / floor_rate:.3f} of floor; "
                  f"process CPU {ms:.2f} ms per booking (all four services, one process)")
            print("\n".join(await check(query, n)))
            print(f"uptime: {os.popen('uptime').read().strip()}")
        finally:
            for runtime in runtimes.values():
                await runtime.stop()
            for runtime in runtimes.values():
                await runtime.engine.dispose()


async def main(args: argparse.Namespace) -> None:
    prefix, run = f"pipe{uuid.uuid4().hex[:6]}.", uuid.uuid4().hex[:6]
    rng = random.Random(1)
    records = [record(i, args.customers, run, rng) for i in range(args.events)]
    if args.embedded:
        return await embedded(args, records)
    async with scratch_databases(len(SERVICES) + 1, "pipe") as names, AsyncExitStack() as stack:
        print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)
        if not args.steady:
            floor_topic = f"pipe-floor-{run}"
            await produce(floor_topic, records)
            floor_rate = await floor(floor_topic, len(records), names[-1])
            print(f"floor: plain aiokafka consumer + one batched asyncpg insert per poll: {floor_rate:,.0f} rows/s",
                  flush=True)
        running = [s for s in SERVICES if not args.steady or s == "loyalty" or s in args.with_services.split(",")]
        served = {s: await stack.enter_async_context(_serve(s, db, prefix=prefix)) for s, db in zip(SERVICES, names)
                  if s in running}
        dbs = {s: await asyncpg.connect(database_url(svc.database)) for s, svc in served.items()}
        cost = await stack.enter_async_context(pg_cost.watch(
            {s: svc.database for s, svc in served.items()}, exclude=[c.get_server_pid() for c in dbs.values()])
        ) if args.pg_cost else None
        try:
            if args.steady:
                await lag_run(args, prefix, served)
                if cost:
                    print(await cost.report(int(args.steady * args.seconds)))
                return
            rates = await throughput(args, prefix, dbs, records, {s: svc.pid for s, svc in served.items()})
            for name, (rate, ms) in rates.items():
                print(f"{name:<11} {rate:9,.0f} ev/s   {rate / floor_rate:.3f} of floor   {ms:5.2f} ms CPU per booking")
            slowest = min(rates, key=lambda s: rates[s][0])
            rate = rates[slowest][0]
            print(f"slowest: {slowest} {rate:,.0f} ev/s, {rate / floor_rate:.3f} of floor "
                  f"(targets ≥ 2,000 ev/s and ≥ 0.5)")
            print("\n".join(await check(on_postgres(dbs), len(records))))
            print(f"uptime: {os.popen('uptime').read().strip()}")
            if cost:
                print(await cost.report(len(records)))
        finally:
            for conn in dbs.values():
                await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="booking-completed records (throughput run)")
    parser.add_argument("--customers", type=int, default=5000, help="distinct customers the bookings go to")
    parser.add_argument("--steady", type=float, default=0, help="records/s of a lag run instead of the throughput run")
    parser.add_argument("--seconds", type=float, default=60, help="length of the --steady run")
    parser.add_argument("--with-services", default=",".join(SERVICES),
                        help="--steady: the services running (loyalty always; e.g. --with-services loyalty alone)")
    parser.add_argument("--timeout", type=float, default=1800, help="give up waiting for the services after this")
    parser.add_argument("--embedded", action="store_true",
                        help="embedded mode: the four services in this process on SQLite over an in-process bus")
    parser.add_argument("--pg-cost", action="store_true",
                        help="where PostgreSQL's time goes: CPU per booking by database, the top statements, full "
                             "scans, unread indexes (bench/pg_cost.py)")
    parser.add_argument("--pyspy", choices=SERVICES, help="record py-spy of this service into /tmp/pipeline-<name>.txt")
    args = parser.parse_args()
    if args.steady:
        args.events = 0
    asyncio.run(main(args))
