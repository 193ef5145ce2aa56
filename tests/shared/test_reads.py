"""The hot-read lane (shared.lane.reads): a child list read as a JSON column of its parent's statement comes back
as the plain query gives it (same order, same Python types) on both databases, and a read after PostgreSQL dropped
the pool's connections (a restart) still answers, readers waiting for a connection get one in the order they
came, and a reader cancelled mid-statement leaves no busy connection to the next."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import asyncpg
from sqlalchemy import (JSON, Boolean, Column, Date, Integer, MetaData, Numeric, String, Table, bindparam,
                        literal_column, select)
from sqlmodel.sql.sqltypes import UTCDateTime

from shared.db import make_engine
from shared.lane import Nested, reads
from shared import read_pool
from shared.read_pool import close_read_pool
from tests.conftest import Backend

meta = MetaData()
parent = Table("parent", meta, Column("id", String(10), primary_key=True), Column("name", String(20)))
child = Table("child", meta, Column("id", Integer, primary_key=True), Column("parent_id", String(10)),
              Column("at", UTCDateTime()), Column("day", Date), Column("amount", Numeric(12, 2)),
              Column("done", Boolean), Column("extra", JSON), Column("label", String(20)))
ORDER = (child.c.at.desc(), child.c.id)
NEWEST = Nested(select(child).where(child.c.parent_id == parent.c.id), *ORDER, limit=3, outer=(parent,))
ALL = Nested(select(child.c.label, child.c.amount).where(child.c.parent_id == bindparam("id")), child.c.label)
READ = (select(parent, NEWEST.column.label("newest"), ALL.column.label("everything"))
        .where(parent.c.id == bindparam("id")))


async def test_a_nested_list_reads_as_the_plain_query_does(backend: Backend) -> None:
    engine = make_engine(await backend.database("nested"))
    try:
        async with engine.begin() as connection:
            await connection.run_sync(meta.create_all)
            await connection.execute(parent.insert(), [{"id": "p1", "name": "王"}, {"id": "p2", "name": "none"}])
            start = datetime(2026, 11, 20, 3, 0, 0, 123456, tzinfo=timezone.utc)
            await connection.execute(child.insert(), [
                {"id": i, "parent_id": "p1", "at": start + timedelta(hours=i % 3), "day": date(2026, 12, i),
                 "amount": Decimal(f"{i}99.50"), "done": i % 2 == 0, "extra": {"k": [i, "桂林"]} if i != 2 else None,
                 "label": f"l{5 - i}"} for i in range(1, 6)])
            expected_newest = [dict(r) for r in (await connection.execute(
                select(child).where(child.c.parent_id == "p1").order_by(*ORDER).limit(3))).mappings()]
            everything_query = select(child.c.label, child.c.amount).where(child.c.parent_id == "p1")
            expected_all = [dict(r) for r in (await connection.execute(
                everything_query.order_by(child.c.label))).mappings()]

        async with reads(engine) as db:
            found = await db.row(READ, {"id": "p1"})
            empty = await db.row(READ, {"id": "p2"})

        newest, everything = NEWEST.rows(found.newest), ALL.rows(found.everything)
        assert [dict(r) for r in newest] == expected_newest and [r.id for r in newest] == [2, 5, 1]
        assert [dict(r) for r in everything] == expected_all
        assert newest[0].at.tzinfo is not None and newest[0].at.utcoffset() == timedelta(0)
        assert isinstance(newest[0].amount, Decimal) and isinstance(newest[0].done, bool)
        assert NEWEST.rows(empty.newest) == [] and ALL.rows(empty.everything) == []
    finally:
        await engine.dispose()


async def test_a_read_after_the_database_dropped_its_connections_still_answers(kafka_only: Backend) -> None:
    url = await kafka_only.database("lost")
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(meta.create_all)
            await connection.execute(parent.insert(), [{"id": "p1", "name": "王"}])
        async with reads(engine) as db:
            assert (await db.row(READ, {"id": "p1"})).name == "王"

        admin = await asyncpg.connect(kafka_only.pg_admin)
        try:  # what a restart does to every connection the pool keeps
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                                url.rsplit("/", 1)[1])
        finally:
            await admin.close()

        async with reads(engine) as db:
            assert (await db.row(READ, {"id": "p1"})).name == "王"
    finally:
        await close_read_pool(engine)
        await engine.dispose()


ONE = select(literal_column("1").label("one"))


async def test_readers_waiting_for_a_connection_are_served_in_the_order_they_came(kafka_only: Backend,
                                                                                   monkeypatch) -> None:
    # Under load the read pool is full and readers queue for it. asyncpg's own pool gives a freed connection to
    # whoever asks right after the release, before the reader it woke has run: that reader queues again at the back,
    # and some requests waited for hundreds of ms while the median was a few (p99 94-465 ms at 64 connections).
    monkeypatch.setattr(read_pool, "READ_POOL_SIZE", 1)
    engine = make_engine(await kafka_only.database("turns"))
    served: list[str] = []
    holding = asyncio.Event()

    async def reader(name: str, hold: asyncio.Event | None = None) -> None:
        async with reads(engine) as db:
            served.append(name)
            assert (await db.row(ONE)).one == 1
            if hold is not None:
                await hold.wait()

    try:
        first = asyncio.create_task(reader("first", holding))
        while not served:
            await asyncio.sleep(0.01)
        waiting = asyncio.create_task(reader("waiting"))
        await asyncio.sleep(0.05)  # queued for the one connection
        holding.set()
        later = []
        for n in range(40):  # newcomers, one per turn of the event loop, while the connection changes hands
            later.append(asyncio.create_task(reader(f"later {n}")))
            await asyncio.sleep(0)
        await asyncio.gather(first, waiting, *later)
        assert served == ["first", "waiting", *(f"later {n}" for n in range(40))]
    finally:
        await close_read_pool(engine)
        await engine.dispose()


async def test_a_reader_cancelled_mid_statement_does_not_hand_its_connection_to_the_next(kafka_only: Backend,
                                                                                          monkeypatch) -> None:
    # The read pool keeps its connections itself: one given back by a reader that was cancelled while its statement
    # ran (a client gone, a timeout) is closed, not handed to the next reader with the statement still on it.
    monkeypatch.setattr(read_pool, "READ_POOL_SIZE", 1)
    engine = make_engine(await kafka_only.database("cancelled"))
    slow = select(literal_column("pg_sleep(5)").label("slept"))
    try:
        async def sleeper() -> None:
            async with reads(engine) as db:
                await db.row(slow)

        task = asyncio.create_task(sleeper())
        await asyncio.sleep(0.3)  # its statement is running on the one connection
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        async with reads(engine) as db:  # kept, its connection would refuse: another operation is in progress
            assert (await db.row(ONE)).one == 1
        async with reads(engine) as db:  # and the fresh connection is kept for the next
            assert (await db.row(ONE)).one == 1
    finally:
        await close_read_pool(engine)
        await engine.dispose()
