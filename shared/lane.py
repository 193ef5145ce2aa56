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

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Numeric, Select, func, select, text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
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


# --- nested rows: a child list as one JSON column of the parent's statement ---------------------------------------


class _json_rows(FunctionElement):
    """The rows of a subquery as one JSON array of arrays (`Nested`): PostgreSQL's json_agg / json_build_array,
    SQLite's json_group_array / json_array (JSON columns through json(), so they nest as values, not strings)."""

    type = JSON()
    inherit_cache = True


@compiles(_json_rows, "postgresql")
def _json_rows_postgresql(element: _json_rows, compiler: Any, **kw: Any) -> str:
    order, *columns = element.clauses
    return (f"coalesce(json_agg(json_build_array({', '.join(compiler.process(c, **kw) for c in columns)}) "
            f"ORDER BY {compiler.process(order, **kw)}), '[]')")


@compiles(_json_rows, "sqlite")
def _json_rows_sqlite(element: _json_rows, compiler: Any, **kw: Any) -> str:
    _order, *columns = element.clauses  # SQLite before 3.44 has no ORDER BY in aggregates: the subquery's order holds
    values = [f"json({compiler.process(c, **kw)})" if isinstance(c.type, JSON) else compiler.process(c, **kw)
              for c in columns]
    return f"json_group_array(json_array({', '.join(values)}))"


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _converter(sql_type: Any) -> Callable[[Any], Any] | None:
    """How a value of `sql_type` read back from JSON becomes what the driver would have given: aware UTC datetimes,
    dates, Decimals, bools (None: as it is)."""
    python = getattr(sql_type, "impl", sql_type)  # a TypeDecorator (UTCDateTime) by what it stores
    if isinstance(python, DateTime):
        return _moment
    if isinstance(python, Date):
        return lambda value: date.fromisoformat(value[:10])
    if isinstance(python, Numeric) and not isinstance(python, Float):
        return lambda value: Decimal(str(value))
    if isinstance(python, Boolean):
        return bool
    return None


class Nested:
    """A child list read in its parent's statement: `query`'s rows, ordered by `order` (and at most `limit`), as one
    JSON column (`Nested.column`, put it in the parent's select), turned back into `Row`s by `Nested.rows(value)`
    with the types the driver would have given. One statement instead of one per child list. `outer`: the parent's
    tables that `query` refers to (`child.parent_id == parent.id`), which it then reads from the parent's row."""

    def __init__(self, query: Select, *order: Any, limit: int | None = None, outer: tuple[Any, ...] = ()) -> None:
        numbered = query.add_columns(func.row_number().over(order_by=order).label("n_"))
        numbered = numbered.correlate(*outer) if outer else numbered
        inner = (numbered.order_by(*order).limit(limit) if limit else numbered.order_by(*order)).subquery()
        columns = [c for c in inner.c if c.name != "n_"]
        self.column = select(_json_rows(inner.c.n_, *columns)).scalar_subquery()
        self._names = [c.name for c in columns]
        self._convert = [(i, f) for i, c in enumerate(columns) if (f := _converter(c.type)) is not None]

    def rows(self, value: Any) -> list[Row]:
        if isinstance(value, (str, bytes)):
            value = json.loads(value)
        found = []
        for values in value or ():
            for i, convert in self._convert:
                if values[i] is not None:
                    values[i] = convert(values[i])
            found.append(Row(zip(self._names, values)))
        return found
