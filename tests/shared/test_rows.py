"""Many rows by one statement (shared.rows), on SQLite and PostgreSQL: inserts, upserts, JSON columns."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import make_engine, utc_column
from shared.rows import rows_insert, upsert_rows
from tests.conftest import Backend

metadata = MetaData()
trips = Table(
    "rows_trip", metadata,
    Column("trip_id", String(50), primary_key=True),
    Column("customer_id", String(50), nullable=False),
    Column("seats", Integer, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("extra", JSON),
    Column("booked_at", utc_column().type, nullable=False),
)


class Trip:  # what upsert_rows takes: a model with its table
    __table__ = trips


AT = datetime(2026, 12, 1, 8, 30, tzinfo=timezone.utc)


def trip(trip_id: str, seats: int = 1, **changes: object) -> dict[str, object]:
    return {"trip_id": trip_id, "customer_id": "c-1", "seats": seats, "tags": ["nature"], "extra": None,
            "booked_at": AT, **changes}


@pytest.fixture
async def engine(backend: Backend) -> AsyncIterator[AsyncEngine]:
    engine = make_engine((await backend.database()).replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def stored(engine: AsyncEngine) -> dict[str, dict[str, object]]:
    async with engine.connect() as conn:
        return {row.trip_id: row._asdict() for row in await conn.execute(select(trips))}


async def test_an_upsert_keeps_the_later_of_two_rows_with_one_key_and_updates_only_the_columns_it_names(
    engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        await conn.execute(*rows_insert(conn.dialect.name, trips, [trip("T-1", customer_id="c-first")]))
    async with engine.begin() as conn:
        await conn.execute(*rows_insert(conn.dialect.name, trips, [
            trip("T-1", 2, customer_id="c-changed"), trip("T-2", 3), trip("T-1", 4, customer_id="c-changed")],
            on_conflict=("trip_id",), update_columns=("seats",)))
    rows = await stored(engine)
    assert rows["T-1"]["seats"] == 4 and rows["T-1"]["customer_id"] == "c-first"  # the later row; its key's other columns kept
    assert rows["T-2"]["seats"] == 3


async def test_upsert_rows_writes_new_and_changed_rows_the_later_of_a_key_winning(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session, session.begin():
        await upsert_rows(session, Trip, [trip("T-1"), trip("T-2")], key="trip_id")
    async with AsyncSession(engine) as session, session.begin():
        await upsert_rows(session, Trip, [trip("T-2", 5, tags=["sea"]), trip("T-3", 1), trip("T-2", 6, tags=["city"])],
                          key="trip_id")
    rows = await stored(engine)
    assert {k: (r["seats"], r["tags"]) for k, r in rows.items()} == {
        "T-1": (1, ["nature"]), "T-2": (6, ["city"]), "T-3": (1, ["nature"])}


async def test_json_columns_round_trip_lists_objects_chinese_text_and_null(engine: AsyncEngine) -> None:
    values = {
        "T-list": (["桂林", "sea"], [[1, 2], [3]]),
        "T-object": ([], {"名字": "张伟", "nested": {"a": [1, None]}}),
        "T-null": (["x"], None),
        "T-scalar": (["quote \" and \\ backslash"], 7),
    }
    async with engine.begin() as conn:
        await conn.execute(*rows_insert(conn.dialect.name, trips, [
            trip(k, tags=tags, extra=extra) for k, (tags, extra) in values.items()]))
    rows = await stored(engine)
    assert {k: (r["tags"], r["extra"]) for k, r in rows.items()} == values
    assert all(r["booked_at"] == AT for r in rows.values())
    async with engine.begin() as conn:  # and through an upsert
        await conn.execute(*rows_insert(conn.dialect.name, trips, [trip("T-list", tags=[{"k": "v"}], extra=[])],
                                        on_conflict=("trip_id",), update_columns=("tags", "extra")))
    row = (await stored(engine))["T-list"]
    assert (row["tags"], row["extra"]) == ([{"k": "v"}], [])


def test_the_statement_text_is_the_same_whatever_the_number_of_rows() -> None:
    """On PostgreSQL the rows travel as arrays: one prepared statement serves every batch size."""
    texts = {str(rows_insert("postgresql", trips, [trip(f"T-{i}") for i in range(n)], on_conflict=("trip_id",),
                             update_columns=("seats", "tags"))[0].compile(dialect=postgresql.dialect()))
             for n in (1, 2, 500)}
    assert len(texts) == 1


def test_rows_with_different_columns_are_refused() -> None:
    with pytest.raises(ValueError):
        rows_insert("postgresql", trips, [trip("T-1"), {"trip_id": "T-2"}])
