"""Many rows by one statement whose text does not depend on how many there are: inserts, upserts and updates.

PostgreSQL: the rows travel as one array per column and the statement reads them with `unnest(…)`, so it is one
cached, prepared statement whatever the batch's size (a multi-row VALUES is a new text, prepared again, for every row
count; an executemany runs the statement once per row, ~0.25 ms each). Arrays are one-dimensional: a JSON column's
values travel as text and are cast back in the statement. SQLite: the rows as executemany parameters (SQLAlchemy
sends them as multi-row VALUES).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Text, bindparam, cast, func, select, update
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import dialect_of


def rows_insert(dialect: str, table: Any, rows: Sequence[Mapping[str, Any]], *, returning: tuple[str, ...] = (),
                skip_conflicts: bool = False, on_conflict: tuple[str, ...] = (),
                update_columns: tuple[str, ...] = ()) -> tuple[Any, Any]:
    """(statement, parameters) inserting `rows` (dicts with the same keys) into `table` by one statement (see the
    module). `returning`: columns returned, in no promised order; an autoincrement id is drawn in the rows' order on
    both databases, so sorted ids are the rows' ids in order. `skip_conflicts`: `ON CONFLICT [(on_conflict)] DO
    NOTHING`. `update_columns` (with `on_conflict`, the key): an upsert, `ON CONFLICT (key) DO UPDATE` of those
    columns from the new row; of rows with the same key in `rows` the later is written (one statement may not
    update a row twice; one upsert after the other would leave the later)."""
    columns = tuple(rows[0])
    if any(len(row) != len(columns) for row in rows):
        raise ValueError(f"rows for {table.name} with different columns")
    if update_columns:
        if not on_conflict:
            raise ValueError("an upsert needs its key: on_conflict")
        rows = list({tuple(row[name] for name in on_conflict): row for row in rows}.values())
    statement = _rows_insert(dialect, table, columns, returning, skip_conflicts, on_conflict, update_columns)
    return statement, _arrays(dialect, table, f"new_{table.name}_", rows)


def _is_json(table: Any, name: str) -> bool:
    return isinstance(table.c[name].type, sqltypes.JSON)


def _json_text(column_type: Any, value: Any) -> str | None:  # noqa: ANN401 - any JSON value
    """A JSON value as the text PostgreSQL casts back (None: SQL NULL where the column's type says so)."""
    if value is None and column_type.none_as_null:
        return None
    return json.dumps(value)


def _arrays(dialect: str, table: Any, prefix: str, rows: Sequence[Mapping[str, Any]]) -> Any:
    """The rows as one array per column (PostgreSQL; a JSON column's values as text), or as executemany parameters,
    named prefix + column."""
    if dialect == "postgresql":
        arrays = {}
        for name in rows[0]:
            if _is_json(table, name):
                kind = table.c[name].type
                arrays[f"{prefix}{name}"] = [_json_text(kind, row[name]) for row in rows]
            else:
                arrays[f"{prefix}{name}"] = [row[name] for row in rows]
        return arrays
    return [{f"{prefix}{name}": value for name, value in row.items()} for row in rows]


def _unnest(table: Any, prefix: str, names: tuple[str, ...], **kw: Any) -> Any:
    arrays = [bindparam(f"{prefix}{name}", type_=ARRAY(Text if _is_json(table, name) else table.c[name].type))
              for name in names]
    return func.unnest(*arrays).table_valued(*names, **kw).render_derived(name=f"{prefix}rows")


def _value(table: Any, source: Any, name: str) -> Any:
    """An unnested column as the table's column takes it (JSON: cast back from its text)."""
    return cast(source.c[name], table.c[name].type) if _is_json(table, name) else source.c[name]


@functools.lru_cache(maxsize=256)
def _rows_insert(dialect: str, table: Any, columns: tuple[str, ...], returning: tuple[str, ...],
                 skip_conflicts: bool, on_conflict: tuple[str, ...], update_columns: tuple[str, ...]) -> Any:
    prefix = f"new_{table.name}_"
    if dialect == "postgresql":
        source = _unnest(table, prefix, columns, with_ordinality=f"{prefix}n")
        statement = postgresql_insert(table).from_select(
            list(columns), select(*(_value(table, source, name) for name in columns)).order_by(source.c[f"{prefix}n"]))
    else:
        statement = sqlite_insert(table).values({name: bindparam(f"{prefix}{name}") for name in columns})
    target = [table.c[name] for name in on_conflict] or None
    if update_columns:
        statement = statement.on_conflict_do_update(
            index_elements=target, set_={name: statement.excluded[name] for name in update_columns})
    elif skip_conflicts:
        statement = statement.on_conflict_do_nothing(index_elements=target)
    if returning:
        statement = statement.returning(*(table.c[name] for name in returning))
    return statement


def rows_update(dialect: str, table: Any, key: str, rows: Sequence[Mapping[str, Any]]) -> tuple[Any, Any]:
    """(statement, parameters) setting each row's other columns where `key` has its value, by one statement (see
    the module; PostgreSQL: `UPDATE … FROM unnest(:array, …)`)."""
    columns = tuple(rows[0])
    statement = _rows_update(dialect, table, key, tuple(name for name in columns if name != key))
    return statement, _arrays(dialect, table, f"set_{table.name}_", rows)


@functools.lru_cache(maxsize=64)
def _rows_update(dialect: str, table: Any, key: str, columns: tuple[str, ...]) -> Any:
    prefix = f"set_{table.name}_"
    if dialect == "postgresql":
        source = _unnest(table, prefix, (key, *columns))
        return update(table).where(table.c[key] == source.c[key]).values(
            {name: _value(table, source, name) for name in columns})
    return update(table).where(table.c[key] == bindparam(f"{prefix}{key}")).values(
        {name: bindparam(f"{prefix}{name}") for name in columns})


def together(dialect: str, parts: Sequence[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Writes from `rows_insert` / `rows_update` (without `returning`), to run in their order, the last part may also
    be a query taking a dict of parameters (its result is the last one's). PostgreSQL: one statement, one round
    trip: the last part, with the others as data-modifying CTEs (WITH … AS (INSERT …)). They run on one snapshot and
    none sees another's rows, so no two parts may write the same rows, nor one table twice the same way, and the
    query does not see what they write. SQLite: the parts as they are."""
    if dialect != "postgresql" or len(parts) < 2:
        return list(parts)
    *before, (statement, params) = parts
    merged = dict(params)
    for number, (part, part_params) in enumerate(before):
        statement = statement.add_cte(part.cte(f"write_{number}"))
        merged.update(part_params)
    return [(statement, merged)]


async def insert_rows(session: AsyncSession, table: Any, rows: Sequence[Mapping[str, Any]], **options: Any) -> None:
    """Run `rows_insert(…, **options)` for the session's database (without `returning`: its result is dropped)."""
    await session.execute(*rows_insert(dialect_of(session), table, rows, **options))


async def upsert_rows(session: AsyncSession, model: type, rows: list[dict[str, Any]], key: str = "customer_id", *,
                      also: Sequence[tuple[Any, Any]] = ()) -> None:
    """Rows of `model`, new or changed, by one upsert (`rows_insert` with `update_columns`: of two rows with the same
    key the later is written), no ORM object per row. Copies of them already loaded in the session are flushed
    first (if changed) and expired after, so nothing reads or flushes a stale copy. `also`: writes of other tables
    (`rows_insert` / `rows_update` parts) sent with it, before it (`together`: one statement on PostgreSQL)."""
    if not rows:
        return
    written = {row[key] for row in rows}
    sync = session.sync_session
    loaded = [o for o in sync.identity_map.values() if isinstance(o, model) and getattr(o, key) in written]
    if any(o in sync.dirty for o in loaded):
        await session.flush(loaded)
    table = model.__table__  # type: ignore[attr-defined]
    upsert = rows_insert(dialect_of(session), table, rows, on_conflict=(key,),
                         update_columns=tuple(name for name in rows[0] if name != key))
    for statement, params in together(dialect_of(session), [*also, upsert]):
        await session.execute(statement, params)
    for obj in loaded:
        sync.expire(obj)
