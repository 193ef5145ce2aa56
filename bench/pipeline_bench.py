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
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import pg_cost  # noqa: E402
from served import KAFKA, Served, _serve, cpu_seconds, database_url, scratch_databases, steady_rate  # noqa: E402
from shared.bus import MemoryBus, Record  # noqa: E402
from shared.db import utcnow  # noqa: E402
from shared.events import BOOKINGS, BookingCompleted, Product, new_event  # noqa: E402

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


def pyspy(pid: int, path: str) -> subprocess.Popen:
    """py-spy sampling the served process (and its children) into a collapsed-stack file, idle samples included
    (where the wall time goes: a consumer waiting on the database shows as waiting)."""
    spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen([str(spy), "record", "--pid", str(pid), "--subprocesses", "--rate", "50", "--format", "raw", "--idle",
                             "--output", path, "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


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


async def steady(args: argparse.Namespace, prefix: str, loyalty: str, customers: int) -> list[tuple[float, float]]:
    """--steady: records at args.steady/s; each one's lag until its loyalty booking row is committed.

    A trigger on loyalty's booking table notifies each booking id; PostgreSQL delivers a notification when the
    transaction that wrote the row commits, so this process hears of each commit as it happens, without polling
    loyalty's database (a poll of every pending id each 10 ms cost PostgreSQL a growing share of a core as the
    backlog grew, slowing the pipeline it measured)."""
    rng, run = random.Random(2), uuid.uuid4().hex[:6]
    listener = await asyncpg.connect(database_url(loyalty))  # loyalty: its database
    await listener.execute(LAG_TRIGGER)
    stamped: dict[str, float] = {}  # booking id -> Kafka timestamp (s)
    committed: dict[str, float] = {}  # booking id -> when its commit was heard (s)
    total = int(args.steady * args.seconds)
    all_committed = asyncio.Event()

    def heard(_conn: object, _pid: int, _channel: str, booking_id: str) -> None:
        committed.setdefault(booking_id, time.time())
        if len(committed) >= total:
            all_committed.set()

    async def stamp(booking_id: str, future: asyncio.Future) -> None:
        stamped[booking_id] = (await future).timestamp / 1000

    await listener.add_listener("bench_lag", heard)
    p = await producer()
    try:
        stamps, started = [], time.perf_counter()
        for i in range(total):
            await asyncio.sleep(max(0.0, started + i / args.steady - time.perf_counter()))
            key, value = record(i, customers, run, rng)
            stamps.append(asyncio.create_task(stamp(f"PB-{run}-{i:08d}", await p.send(prefix + BOOKINGS, value, key=key))))
        await asyncio.gather(*stamps)
        await asyncio.wait_for(all_committed.wait(), args.timeout)
    finally:
        await p.stop()
        await listener.close()
    return sorted((stamped[b], committed[b] - stamped[b]) for b in stamped)  # (sent, lag), in the order sent


LAG_TRIGGER = """
CREATE FUNCTION bench_lag_notify() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM pg_notify('bench_lag', NEW.booking_id); RETURN NULL; END $$;
CREATE TRIGGER bench_lag AFTER INSERT ON loyalty_booking FOR EACH ROW EXECUTE FUNCTION bench_lag_notify();
"""


BATCH_METRICS = ("batch_records", "batch_wait_seconds", "batch_seconds")  # tourcrm_consumer_<name>, histograms


async def batches(served: dict[str, Served]) -> dict[str, dict[str, tuple[float, float]]]:
    """Per service and consumer histogram (BATCH_METRICS): (count, sum) so far, from its /metrics."""
    found: dict[str, dict[str, tuple[float, float]]] = {}
    for name, svc in served.items():
        try:
            text = (await svc.client.get("/metrics")).text
        except httpx.TransportError:  # a kept-alive connection the server closed meanwhile (uvicorn: after 5 s idle)
            text = (await svc.client.get("/metrics")).text
        found[name] = {}
        for metric in BATCH_METRICS:
            pairs = dict(re.findall(rf'^tourcrm_consumer_{metric}_(count|sum)\{{[^}}]*\}} (\S+)$', text, re.M))
            found[name][metric] = (float(pairs.get("count", 0)), float(pairs.get("sum", 0)))
    return found


def stages(before: dict[str, dict[str, tuple[float, float]]], after: dict[str, dict[str, tuple[float, float]]],
           seconds: float) -> str:
    """Each consumer over the run: batches, records per batch, the mean age of a batch's oldest record when it began,
    the mean time to apply a batch, and the share of the run spent applying batches."""
    lines = []
    for name in after:
        (n, records), (_, waited), (_, applying) = (
            (after[name][m][0] - before[name][m][0], after[name][m][1] - before[name][m][1]) for m in BATCH_METRICS)
        n = max(n, 1)
        lines.append(f"  {name:<10} {n:6,.0f} batches, {records / n:5.1f} records each; oldest record "
                     f"{waited / n * 1000:5.0f} ms old when its batch began; a batch {applying / n * 1000:5.0f} ms; "
                     f"applying {applying / seconds:.0%} of the time")
    return "\n".join(lines)


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole machine so far (/proc/stat)."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4], sum(fields)  # idle and iowait are not busy


def servers() -> dict[str, int]:
    """The pids of the PostgreSQL server (postmaster: its backends are its children) and the Kafka broker."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if "kafka.Kafka" in cmdline:
            found["kafka"] = int(entry.name)
        elif cmdline.split(" ", 1)[0].endswith("postgres") and "-D" in cmdline:
            found["postgres"] = int(entry.name)
    return found


def quantiles(lags: list[float]) -> str:
    lags = sorted(lags)
    q = lambda p: lags[min(len(lags) - 1, int(p * len(lags)))] * 1000  # noqa: E731
    return f"p50 {q(0.5):.0f} ms, p99 {q(0.99):.0f} ms, max {lags[-1] * 1000:.0f} ms"


async def lag_run(args: argparse.Namespace, prefix: str, served: dict[str, Served]) -> None:
    """--steady: the lag figures; the CPU per booking of each service, of the PostgreSQL server (all its sessions,
    other benches' too) and of the Kafka broker; the machine's busy share; each consumer's batches over the run."""
    spy = pyspy(served[args.pyspy].pid, f"/tmp/pipeline-{args.pyspy}.txt") if args.pyspy else None
    pids = {**{s: svc.pid for s, svc in served.items()}, **servers()}
    cpu, before, busy = {s: cpu_seconds(pid) for s, pid in pids.items()}, await batches(served), machine_busy()
    started = time.perf_counter()
    sent = await steady(args, prefix, served["loyalty"].database, args.customers)
    n, (busy_end, total_end) = len(sent), machine_busy()
    print("CPU per booking over the run: " + ", ".join(
        f"{s} {(cpu_seconds(pid) - cpu[s]) * 1000 / n:.2f} ms" for s, pid in pids.items())
        + f"; machine busy {(busy_end - busy[0]) / (total_end - busy[1]):.0%} of its {os.cpu_count()} cores")
    print("consumer batches over the run:\n" + stages(before, await batches(served), time.perf_counter() - started))
    if spy:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=30)
    print(f"lag at {args.steady}/s for {args.seconds}s, record timestamp → loyalty booking row committed "
          f"({n} records): {quantiles([lag for _, lag in sent])}")
    settled = [lag for at, lag in sent if at >= sent[0][0] + 10]
    print(f"  the same without the first 10 s (every customer new to the services then): {quantiles(settled)}")
    print(f"uptime: {os.popen('uptime').read().strip()}")


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
