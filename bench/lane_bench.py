"""CPU per transaction: SQLAlchemy's async ORM session against the fast lane (shared/lane.py), PostgreSQL.

    .venv/bin/python bench/lane_bench.py [--transactions 2000]

Each transaction runs the same 5 prebuilt Core statements (a primary-key SELECT on loyalty_member) through:
- session: `AsyncSession.execute` (what use cases use), the session from the service's sessionmaker;
- connection: SQLAlchemy's `AsyncConnection.execute` (Core, no ORM);
- lane: `shared.lane.lane(engine)`, the statements compiled once and run on the pooled asyncpg connection;
- floor: raw asyncpg on one connection, `fetchval` of the same SQL in `connection.transaction()`.
CPU time (time.process_time) of this process per transaction; the database's own work is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncpg  # noqa: E402
from sqlalchemy import bindparam, select  # noqa: E402
from sqlmodel import SQLModel  # noqa: E402

from served import database_url, scratch_databases  # noqa: E402
from services.loyalty.models import Member  # noqa: E402
from shared.db import make_engine, make_sessionmaker  # noqa: E402
from shared.lane import lane  # noqa: E402

M = Member.__table__
QUERY = select(M.c.balance).where(M.c.customer_id == bindparam("c"))
STATEMENTS = 5


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=2000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # SQLModel warns on session.execute; the warning is part of its cost
    async with scratch_databases(1, "lanebench") as [database]:
        engine = make_engine(database_url(database, "postgresql+asyncpg"))
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
        sessions = make_sessionmaker(engine)
        raw = await asyncpg.connect(database_url(database))

        async def session() -> None:
            async with sessions() as s, s.begin():
                for _ in range(STATEMENTS):
                    await s.execute(QUERY, {"c": "x"})

        async def connection() -> None:
            async with engine.begin() as c:
                for _ in range(STATEMENTS):
                    await c.execute(QUERY, {"c": "x"})

        async def fast_lane() -> None:
            async with lane(engine) as tx:
                for _ in range(STATEMENTS):
                    await tx.rows(QUERY, {"c": "x"})

        async def floor() -> None:
            async with raw.transaction():
                for _ in range(STATEMENTS):
                    await raw.fetchval("SELECT balance FROM loyalty_member WHERE customer_id = $1", "x")

        results = {}
        for name, run in (("floor", floor), ("session", session), ("connection", connection), ("lane", fast_lane)):
            for _ in range(100):
                await run()
            started = time.process_time()
            for _ in range(args.transactions):
                await run()
            results[name] = (time.process_time() - started) / args.transactions * 1e6
        await raw.close()
        await engine.dispose()
    print(f"CPU per transaction of {STATEMENTS} statements ({args.transactions} transactions each):")
    for name, micros in results.items():
        print(f"  {name:11s} {micros:7.0f} µs   {micros / results['floor']:5.1f} × floor (raw asyncpg)")


if __name__ == "__main__":
    asyncio.run(main())
