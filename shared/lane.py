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

`reads(engine)` is the same for hot reads: prebuilt statements on one pooled connection (on PostgreSQL, of the reads'
own asyncpg pool), each in autocommit (no BEGIN / ROLLBACK round trips), rows as `Row`s; `Nested` reads a child
list in its parent's statement. Note that on the asyncpg path SQLAlchemy's result
processing is skipped too: columns come back as asyncpg decodes them (aware datetimes, Decimal, and JSON
through the codecs SQLAlchemy's dialect installs on each connection).
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Numeric, Select, func, select, text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.functions import FunctionElement

from shared.db import database_unavailable
from shared.read_pool import read_connection
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


# (id(statement), dialect) → (statement, SQL, parameter names in order, values bound in the statement itself)
_COMPILED: dict[tuple[int, str], tuple[Any, str, list[str], dict[str, Any]]] = {}


def _compiled(statement: Any, dialect: Dialect) -> tuple[str, list[str], dict[str, Any]]:
    found = _COMPILED.get((id(statement), dialect.name))
    if found is None:
        compiled = statement.compile(dialect=dialect)
        names = list(compiled.positiontup or ())
        fixed = {name: compiled.binds[name].effective_value for name in names}  # e.g. status == "held"
        found = _COMPILED[(id(statement), dialect.name)] = (statement, compiled.string, names, fixed)  # keeps it alive
    return found[1], found[2], found[3]


# id(statement) → (its keys, a result processor per column or None, a bind processor per parameter or None): what
# SQLAlchemy would do to values going to and coming from SQLite, done without it (see `Reads`)
_TYPED: dict[int, tuple[list[str], list[Any], list[Any]]] = {}


def _typed(statement: Any, dialect: Dialect) -> tuple[list[str], list[Any], list[Any]]:
    found = _TYPED.get(id(statement))
    if found is None:
        compiled = statement.compile(dialect=dialect)
        columns, binds = list(statement.selected_columns), [compiled.binds[n] for n in compiled.positiontup or ()]
        found = _TYPED[id(statement)] = (
            [c.key for c in columns], [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns],
            [b.type.dialect_impl(dialect).bind_processor(dialect) for b in binds])
    return found


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
        callback(url_of(engine))


_URLS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def url_of(engine: AsyncEngine) -> str:
    """`str(engine.url)`, the key of an engine's relays and counters, rendered once per engine (SQLAlchemy renders
    the URL again on every `str`)."""
    found = _URLS.get(engine.sync_engine)
    if found is None:
        found = _URLS[engine.sync_engine] = str(engine.url)
    return found


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
    transaction's statements too). Rows come back as `Row`s. On SQLite the statements run on aiosqlite's own
    connection (one hop to its thread each), with SQLAlchemy's type processing of each column and parameter
    applied here."""

    def __init__(self, dialect: Dialect, driver: Any, renew: Callable[[], Any] | None = None) -> None:
        self._dialect, self._driver, self._renew = dialect, driver, renew

    async def rows(self, statement: Any, params: Mapping[str, Any] | None = None) -> list[Row]:
        params = params or {}
        sql, names, fixed = _compiled(statement, self._dialect)
        values = [params[n] if n in params else fixed[n] for n in names]
        if self._dialect.name != "postgresql":
            keys, readers, binders = _typed(statement, self._dialect)
            found = await self._driver.execute_fetchall(
                sql, [bind(v) if bind else v for bind, v in zip(binders, values)])
            return [Row(zip(keys, [read(v) if read else v for read, v in zip(readers, r)])) for r in found]
        try:
            found = await self._driver.fetch(sql, *values)
        except Exception as exc:
            if self._renew is None or not database_unavailable(exc):
                raise
            # a connection lost while it sat in the pool (the database restarted): once more, on a fresh one
            renew, self._renew = self._renew, None
            self._driver = await renew()
            found = await self._driver.fetch(sql, *values)
        return [Row(r.items()) for r in found]

    async def row(self, statement: Any, params: Mapping[str, Any] | None = None) -> Row | None:
        found = await self.rows(statement, params)
        return found[0] if found else None


@asynccontextmanager
async def reads(engine: AsyncEngine) -> AsyncIterator[Reads]:
    """A pooled connection for prebuilt reads (`Reads`). PostgreSQL: a connection of the reads' own asyncpg pool
    (`shared.read_pool`), outside any transaction, given to readers in their order of arrival. SQLite: aiosqlite's
    connection of the engine's pool, outside any transaction (the reads take no lock: WAL)."""
    if engine.dialect.name != "postgresql":
        async with engine.connect() as connection:
            yield Reads(engine.dialect, (await connection.get_raw_connection()).driver_connection)
        return
    async with read_connection(engine) as held:
        yield Reads(engine.dialect, held.driver, held.renew)


# --- nested rows: a child list as one JSON column of the parent's statement ---------------------------------------


class _json_rows(FunctionElement):
    """The rows of a subquery as one JSON array of arrays (`Nested`): PostgreSQL's json_agg / json_build_array,
    SQLite's json_group_array / json_array (JSON columns through json(), so they nest as values, not strings)."""

    type = JSON()
    inherit_cache = True


def _split(element: _json_rows) -> tuple[list[Any], list[Any]]:
    """The arguments of `_json_rows`: first the sort keys (`o_<n>`, perhaps DESC), then the columns."""
    clauses = list(element.clauses)
    keys = [c for c in clauses if _SORT_KEY.fullmatch(getattr(getattr(c, "element", c), "name", "") or "")]
    return keys, clauses[len(keys):]


_SORT_KEY = re.compile(r"o_\d+")


@compiles(_json_rows, "postgresql")
def _json_rows_postgresql(element: _json_rows, compiler: Any, **kw: Any) -> str:
    order, columns = _split(element)  # the subquery's few rows, by their sort keys
    return (f"coalesce(json_agg(json_build_array({', '.join(compiler.process(c, **kw) for c in columns)}) "
            f"ORDER BY {', '.join(compiler.process(o, **kw) for o in order)}), '[]')")


@compiles(_json_rows, "sqlite")
def _json_rows_sqlite(element: _json_rows, compiler: Any, **kw: Any) -> str:
    _order, columns = _split(element)  # SQLite before 3.44 has no ORDER BY in aggregates: the subquery's order holds
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
        keys = [(o.element, o.modifier is operators.desc_op) if isinstance(o, UnaryExpression) else (o, False)
                for o in order]  # the sort keys, selected too: PostgreSQL orders the aggregate by them
        inner = query.add_columns(*(key.label(f"o_{i}") for i, (key, _) in enumerate(keys))).order_by(*order)
        inner = inner.limit(limit) if limit else inner
        inner = (inner.correlate(*outer) if outer else inner).subquery()
        columns = [c for c in inner.c if not (c.name.startswith("o_") and c.name[2:].isdigit())]
        ordering = [inner.c[f"o_{i}"].desc() if descending else inner.c[f"o_{i}"]
                    for i, (_, descending) in enumerate(keys)]
        self.column = select(_json_rows(*ordering, *columns)).scalar_subquery()
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


async def call(engine: AsyncEngine, statement: Any, params: Mapping[str, Any] | None = None) -> list[Row]:
    """PostgreSQL: one prebuilt statement that is a transaction by itself (a server-side function that checks and
    writes), in autocommit on a pooled connection: one round trip, no BEGIN or COMMIT, and whatever it locks stays
    locked only inside the server. Driver errors (e.g. a function's RAISE) come through as the driver raises them.
    SQLite writers begin with BEGIN IMMEDIATE: use `lane` there."""
    if engine.dialect.name != "postgresql":
        raise ValueError("lane.call is for PostgreSQL; use lane() on other databases")
    async with reads(engine) as db:
        return await db.rows(statement, params)
