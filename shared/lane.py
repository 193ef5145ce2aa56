"""The fast lane: one transaction of prebuilt Core statements on the database driver's own connection.

Through SQLAlchemy's async session a transaction of 5 statements costs ~1,100 µs of CPU (greenlet
hops, the ORM execute path, result processing), in the lane ~520, with asyncpg alone ~390
(`bench/lane_bench.py`, this machine). A
checkout's hold and capture are a handful of statements each, on a member row that every
concurrent checkout of that member waits for, so that difference is the service's throughput.

Statements stay SQLAlchemy Core (one definition for both backends) and are compiled once per
dialect. On PostgreSQL they run on the pooled asyncpg connection inside an asyncpg transaction;
on SQLite through SQLAlchemy's connection (BEGIN IMMEDIATE, as every writer there). Rows come back
as mappings (`row["column"]`). Parameters reach asyncpg as they are, without SQLAlchemy's type
processing: pass driver-native values (aware datetimes, Decimal, str, int). Use the lane only for
short, hot units of work; everything else uses the ORM session.

`reads(engine)` is the same for hot reads: prebuilt statements on one pooled connection, each in autocommit
(no BEGIN / ROLLBACK round trips), rows as `Row`s. Note that on the asyncpg path SQLAlchemy's result
processing is skipped too: columns come back as asyncpg decodes them (aware datetimes, Decimal, and JSON
through the codecs SQLAlchemy's dialect installs on each connection).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class Lane:
    """One open transaction; `rows`, `row` and `run` execute a prebuilt statement with `params`.
    Prebuilt means built once (module level, or cached by the caller): each statement object is compiled
    once and kept for the life of the process. `on_commit` callbacks get the database URL once the
    transaction has committed."""

    dialect: str
    on_commit: list[Callable[[str], None]]

    async def rows(self, statement: Any, params: Mapping[str, Any] | None = None) -> list[Mapping[str, Any]]:
        raise NotImplementedError

    async def row(self, statement: Any, params: Mapping[str, Any] | None = None) -> Mapping[str, Any] | None:
        found = await self.rows(statement, params)
        return found[0] if found else None

    async def run(self, statement: Any, params: Mapping[str, Any] | None = None) -> None:
        await self.rows(statement, params)


class _AsyncpgLane(Lane):
    dialect = "postgresql"

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self.connection, self._dialect, self.on_commit = connection, dialect, []

    async def rows(self, statement: Any, params: Mapping[str, Any] | None = None) -> list[Mapping[str, Any]]:
        sql, names, fixed = _compiled(statement, self._dialect)
        params = params or {}
        return await self.connection.fetch(sql, *[params[n] if n in params else fixed[n] for n in names])


class _SQLAlchemyLane(Lane):
    dialect = "sqlite"

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection, self.on_commit = connection, []

    async def rows(self, statement: Any, params: Mapping[str, Any] | None = None) -> list[Mapping[str, Any]]:
        result = await self.connection.execute(statement, dict(params or {}))
        return list(result.mappings()) if result.returns_rows else []


# id(statement) → (statement, SQL, parameter names in order, values bound in the statement itself)
_COMPILED: dict[int, tuple[Any, str, list[str], dict[str, Any]]] = {}


def _compiled(statement: Any, dialect: Dialect) -> tuple[str, list[str], dict[str, Any]]:
    found = _COMPILED.get(id(statement))
    if found is None:
        compiled = statement.compile(dialect=dialect)
        names = list(compiled.positiontup or ())
        fixed = {name: compiled.binds[name].effective_value for name in names}  # e.g. status == "held"
        found = _COMPILED[id(statement)] = (statement, compiled.string, names, fixed)  # keeps the statement alive
    return found[1], found[2], found[3]


@asynccontextmanager
async def lane(engine: AsyncEngine) -> AsyncIterator[Lane]:
    """A transaction in the fast lane: commits when the block ends, rolls back if it raises."""
    tx: Lane
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            async with driver.transaction():
                tx = _AsyncpgLane(driver, engine.dialect)
                yield tx
    else:
        async with engine.begin() as connection:
            tx = _SQLAlchemyLane(connection)
            yield tx
    for callback in tx.on_commit:
        callback(str(engine.url))


def next_id(column: Any, dialect: str) -> Any:
    """SQL for the next value of an autoincrement integer key, computed inside the statement that needs it (no
    extra round trip): the key's own sequence on PostgreSQL; max + 1 on SQLite, which is safe because a writer
    there holds the database lock from BEGIN IMMEDIATE (for tables whose rows are never deleted, without
    AUTOINCREMENT)."""
    if dialect == "postgresql":
        return text(f"nextval('{column.table.name}_{column.name}_seq')")
    return select(func.coalesce(func.max(column), 0) + 1).scalar_subquery()


class Row(dict):
    """A row of a read: by key (`row["id"]`) and, like an ORM object, by attribute (`row.id`), so the views
    that shape ORM objects shape it too."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Reads:
    """Prebuilt read statements on one pooled connection, each in autocommit: no BEGIN / ROLLBACK round trips,
    no ORM, no session. Each statement sees what was committed when it ran (what READ COMMITTED gives a
    transaction's statements too). Rows come back as `Row`s."""

    def __init__(self, connection: Any, dialect: Dialect, driver: Any = None) -> None:
        self._connection, self._dialect, self._driver = connection, dialect, driver

    async def rows(self, statement: Any, params: Mapping[str, Any] | None = None) -> list[Row]:
        params = params or {}
        if self._driver is not None:
            sql, names, fixed = _compiled(statement, self._dialect)
            found = await self._driver.fetch(sql, *[params[n] if n in params else fixed[n] for n in names])
            return [Row(r.items()) for r in found]
        return [Row(m) for m in (await self._connection.execute(statement, dict(params))).mappings()]

    async def row(self, statement: Any, params: Mapping[str, Any] | None = None) -> Row | None:
        found = await self.rows(statement, params)
        return found[0] if found else None


@asynccontextmanager
async def reads(engine: AsyncEngine) -> AsyncIterator[Reads]:
    """A pooled connection for prebuilt reads (`Reads`). PostgreSQL: asyncpg's own connection, outside any
    transaction. SQLite: SQLAlchemy's connection, whose reads take no lock (WAL, a plain BEGIN)."""
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            yield Reads(connection, engine.dialect, driver)
    else:
        async with engine.connect() as connection:
            yield Reads(await connection.execution_options(readonly=True), engine.dialect)


async def call(engine: AsyncEngine, statement: Any, params: Mapping[str, Any] | None = None) -> list[Row]:
    """PostgreSQL: one prebuilt statement that is a transaction by itself (a server-side function that checks and
    writes), in autocommit on a pooled connection: one round trip, no BEGIN or COMMIT, and whatever it locks stays
    locked only inside the server. Driver errors (e.g. a function's RAISE) come through as the driver raises them.
    SQLite writers begin with BEGIN IMMEDIATE: use `lane` there."""
    if engine.dialect.name != "postgresql":
        raise ValueError("lane.call is for PostgreSQL; use lane() on other databases")
    async with reads(engine) as db:
        return await db.rows(statement, params)
