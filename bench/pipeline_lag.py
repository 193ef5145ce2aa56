"""--steady of bench/pipeline_bench.py: booking-completed at a steady rate, and each record's lag from its Kafka
timestamp to the commit of the transaction that wrote its booking row (and its points) in loyalty's database."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

from pipeline_records import producer, pyspy, record
from served import Served, cpu_seconds, database_url
from shared.events import BOOKINGS

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
    if not lags:
        return "no records"
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
