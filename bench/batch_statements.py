"""Statements and database round trips per consumer batch of one service, in this process, without Kafka.

    .venv/bin/python bench/batch_statements.py loyalty pg [--sizes 25,100,500] [--sql]
    .venv/bin/python bench/batch_statements.py loyalty sqlite

Batches of booking-completed (the pipeline bench's records: spread over customers, a quarter of them new to the
service in each batch, the rest seen before) go through the service's `EventConsumer.process_batch` on a fresh
database (PostgreSQL, or SQLite). Counted per batch, after two warm-up batches of other sizes (as a live stream
brings: a statement whose text depends on the batch size is prepared again): SQL statements SQLAlchemy sends
(an executemany counts once), and on PostgreSQL the round trips asyncpg makes (BEGIN, each prepare of a statement
text not yet in the connection's cache, each execute, COMMIT). --sql prints the statements of the last batch, each with its time
(from the cursor's execute to its result); each kind of round trip shows the time waited for it, and the
batch its wall time.
The pipeline's live batches are small (~25 records at 500 ev/s), so the per-batch count is what limits them.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import asyncpg  # noqa: E402
from sqlalchemy import event  # noqa: E402

from served import PG, database_url  # noqa: E402
from shared.app import Runtime  # noqa: E402
from shared.bus import MemoryBus, Record  # noqa: E402
from shared.db import migrate, utcnow  # noqa: E402
from shared.events import BookingCompleted, Product, new_event  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tourcrm import settings_for, spec  # noqa: E402

PRODUCTS = [Product(id=f"P-{n}", name=f"线路{n}", kind="tour", destination="桂林", tags=["nature"]) for n in range(4)]


class Trips:
    """Round trips of asyncpg connections: patched onto the classes SQLAlchemy's adapter calls."""

    def __init__(self) -> None:
        self.count = 0
        self.kinds: dict[str, int] = {}
        self.seconds: dict[str, float] = {}  # waited per kind (BEGIN and COMMIT are "simple")

    def note(self, kind: str) -> None:
        self.count += 1
        self.kinds[kind] = self.kinds.get(kind, 0) + 1

    def install(self) -> None:
        from asyncpg import connection, prepared_stmt
        trips = self

        def wrap(cls, name, kind):  # noqa: ANN001, ANN202
            original = getattr(cls, name)

            async def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
                trips.note(kind)
                started = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    trips.seconds[kind] = trips.seconds.get(kind, 0.0) + time.perf_counter() - started

            setattr(cls, name, counted)

        wrap(connection.Connection, "prepare", "prepare")
        wrap(connection.Connection, "execute", "simple")  # BEGIN, COMMIT
        wrap(connection.Connection, "executemany", "executemany")
        for name in ("fetch", "fetchrow", "fetchval", "executemany", "explain"):
            wrap(prepared_stmt.PreparedStatement, name, "execute")


def bookings(n: int, run: str, batch: int, rng: random.Random, seen: list[str]) -> list[Record]:
    out = []
    for i in range(n):
        if seen and rng.random() < 0.75:
            customer = rng.choice(seen)
        else:
            customer = f"sc-{run}-{batch}-{i}"
            seen.append(customer)
        data = BookingCompleted(booking_id=f"SB-{run}-{batch}-{i}", customer_id=customer,
                                amount=f"{rng.randint(200, 9000)}.00", product=rng.choice(PRODUCTS), party_size=2,
                                completed_at=utcnow() - timedelta(minutes=rng.randint(1, 2000)))
        out.append(Record(data.topic, customer, new_event(data, source="bench", subject=customer).to_bytes()))
    return out


async def main(service: str, backend: str, sizes: list[int], show_sql: bool) -> None:
    logging.disable(logging.WARNING) if "--verbose" not in sys.argv else None
    run = uuid.uuid4().hex[:6]
    admin = None
    if backend == "pg":
        name = f"stmts_{run}"
        admin = await asyncpg.connect(PG)
        await admin.execute(f'CREATE DATABASE "{name}"')
        base = Settings(environment="test", database_url=database_url(name, "postgresql+asyncpg"))
    else:
        base = Settings(environment="test", var_dir=tempfile.mkdtemp())
    runtime = Runtime(spec(service), settings_for(service, base), bus=MemoryBus())
    statements: list[str] = []
    trips = Trips()
    if backend == "pg":
        trips.install()
    timings: list[float] = []
    event.listen(runtime.engine.sync_engine, "before_cursor_execute",
                 lambda conn, cursor, sql, params, context, many: (statements.append(sql),
                                                                   timings.append(time.perf_counter())))
    event.listen(runtime.engine.sync_engine, "after_cursor_execute",
                 lambda conn, cursor, sql, params, context, many: timings.append(time.perf_counter() - timings.pop()))
    rng, seen, batch = random.Random(1), [], 0
    try:
        await migrate(runtime.engine, runtime.spec.migrations)
        for size in sizes:
            for warm in (1, 2):  # warm: the caches, a population of members; sizes a live stream also brings
                batch += 1
                await runtime.consumer.process_batch(bookings(size + warm, run, batch, rng, seen))
            batch += 1
            records = bookings(size, run, batch, rng, seen)
            statements.clear()
            timings.clear()
            trips.count, trips.kinds, trips.seconds = 0, {}, {}
            started = time.perf_counter()
            await runtime.consumer.process_batch(records)
            wall = time.perf_counter() - started
            kinds = ", ".join(f"{k} {v}: {trips.seconds[k] * 1000:.1f} ms" for k, v in sorted(trips.kinds.items()))
            print(f"{service} {backend} batch of {size}: {len(statements)} statements"
                  + (f", {trips.count} round trips ({kinds})" if backend == "pg" else "") + f"; {wall * 1000:.0f} ms")
            if show_sql and size == sizes[-1]:
                for sql, seconds in zip(statements, timings):
                    print(f"    {seconds * 1000:6.2f} ms", " ".join(sql.split())[:150])
    finally:
        await runtime.engine.dispose()
        if admin is not None:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("service")
    parser.add_argument("backend", choices=("pg", "sqlite"))
    parser.add_argument("--sizes", default="25,100,500")
    parser.add_argument("--sql", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.service, args.backend, [int(s) for s in args.sizes.split(",")], args.sql))
