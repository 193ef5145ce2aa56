"""Async engine and sessions on SQLite (aiosqlite) or PostgreSQL (asyncpg), and per-service migrations."""

from __future__ import annotations

import asyncio
import functools
import time
import zlib

import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import BigInteger, Column, Integer, any_, bindparam, event, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import registry
from sqlmodel import Session, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.sqltypes import UTCDateTime

from shared.settings import Settings

# Plain SQLAlchemy mappings on SQLModel's metadata, for rows built on hot paths (see outbox.py).
core_registry = registry(metadata=SQLModel.metadata)


def utcnow() -> datetime:
    """Now, as an aware UTC datetime: the only kind the tables take (timestamptz on PostgreSQL)."""
    return datetime.now(timezone.utc)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


# --- column and id helpers: the same on every service -------------------------------------------------

BIGID = BigInteger().with_variant(Integer, "sqlite")  # a 64-bit autoincrement key (SQLite's rowid alias)


def utc_column(*, nullable: bool = False, index: bool = False, primary_key: bool = False) -> Column:
    """A timestamptz column that takes and gives back aware UTC datetimes on both databases
    (the migrations say `sa.DateTime(timezone=True)`)."""
    return Column(UTCDateTime(), nullable=nullable, index=index, primary_key=primary_key)


def aware(moment: datetime) -> datetime:
    """A time from outside (event data, a form) that may be naive, read as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def new_id() -> str:
    """A fresh identifier for a row that others will refer to (UUID 4, text)."""
    return str(uuid.uuid4())


# --- the one place where SQLite and PostgreSQL differ in domain SQL ---------------------------------

_INSERTS = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}


def dialect_of(session: AsyncSession) -> str:
    """'postgresql' or 'sqlite': for the few statements that must be written per database."""
    return session.bind.dialect.name  # type: ignore[union-attr]


def insert(session: AsyncSession, table):  # noqa: ANN001, ANN201 - an Insert with on_conflict_* for its database
    """`INSERT` with `on_conflict_do_nothing` / `on_conflict_do_update` for the session's database."""
    return _INSERTS[dialect_of(session)](table)


def among(session: AsyncSession, column, values: Sequence[Any]):  # noqa: ANN001, ANN201 - a SQL condition
    """`column IN (values)` for the session's database. PostgreSQL: `= ANY(:array)`, one parameter, so the
    statement stays one cached, prepared statement (an IN list renders a bind per value on every execution);
    SQLite has no arrays: the IN list (keep it under its bind limit, e.g. 500 values)."""
    if dialect_of(session) == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


async def plan_for_arguments(session_or_connection: Any) -> None:  # noqa: ANN401 - AsyncSession or AsyncConnection
    """PostgreSQL: plan every statement of the current transaction for its own arguments (`SET LOCAL
    plan_cache_mode = force_custom_plan`); SQLite: nothing. asyncpg prepares every statement, and after five
    executions PostgreSQL may switch a prepared statement to a generic plan, costed once, without the arguments:
    a consumer that starts on nearly empty tables keeps full scans made then for the rest of its life (a lookup by
    booking id at 65 ms per call on a full table). Call it once at the start of a transaction that applies a batch."""
    dialect = getattr(session_or_connection, "dialect", None) or session_or_connection.bind.dialect
    if dialect.name == "postgresql":
        await session_or_connection.execute(_CUSTOM_PLANS)


_CUSTOM_PLANS = text("SET LOCAL plan_cache_mode = force_custom_plan")


def make_engine(url: str, *, pool_size: int = 20) -> AsyncEngine:
    """An engine whose transactions behave the same on both backends (SQLite: WAL, BEGIN IMMEDIATE)."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection, _record):  # noqa: ANN001
            # Let SQLAlchemy, not the driver, open transactions, so SAVEPOINT works and
            # writers take the lock at BEGIN (no lock-upgrade deadlocks between writers).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn):  # noqa: ANN001
            # Readers take no lock in WAL mode; writers take it at once (see make_sessionmaker).
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("readonly") else "BEGIN IMMEDIATE")

        return engine
    # No overflow: an overflow connection is closed at its checkin whenever the pool holds enough idle ones, so
    # under bursts of concurrent requests the pool kept opening and closing connections (connect, TLS attempt and
    # authentication: ~8 % of the server's CPU under 64 wrk connections, bench/reads_bench.py). Waiting for one of
    # `pool_size` kept connections is cheaper; the cap is the same 20 as before (10 + 10 overflow).
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0)

    # Pessimistic disconnect handling, but only for connections that sat idle in the pool: SQLAlchemy's
    # pool_pre_ping would cost three round trips (BEGIN, ping, ROLLBACK) on every checkout, the hot
    # paths' largest cost; a connection returned moments ago is alive. After a database restart every
    # connection has been idle for longer than this, so each is pinged and a dead one replaced.
    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection, record):  # noqa: ANN001
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection, record, _proxy):  # noqa: ANN001
        if time.monotonic() - record.info.get("idle_since", 0.0) > PING_AFTER_IDLE_SECONDS:
            try:
                dbapi_connection.ping()
            except Exception as exc:  # noqa: BLE001 - any failure: the pool replaces this connection
                raise DisconnectionError("connection lost while idle") from exc

    return engine


PING_AFTER_IDLE_SECONDS = 2.0


SessionHooks = Mapping[str, Sequence[Callable[..., None]]]  # SQLAlchemy session event name → listeners


def session_class(name: str, hooks: SessionHooks | None = None) -> type[Session]:
    """A Session class of one service, with that service's session event listeners on it alone
    (listeners on the base class would run on every service's commits in the embedded process)."""
    cls = type(f"{name.title().replace('-', '')}Session", (Session,), {})
    for event_name, listeners in (hooks or {}).items():
        for listener in listeners:
            event.listen(cls, event_name, listener)
    return cls


def make_sessionmaker(
    engine: AsyncEngine, *, readonly: bool = False, settings: Settings | None = None,
    sync_session_class: type[Session] = Session,
) -> async_sessionmaker[AsyncSession]:
    """Sessions for units of work; `readonly` ones never wait for SQLite's write lock (use them for queries).

    Each session carries the service's settings, for handlers and use cases: `settings_of(session)`.
    """
    bind = engine.execution_options(readonly=True) if readonly else engine
    return async_sessionmaker(bind, class_=AsyncSession, expire_on_commit=False, info={"settings": settings},
                              sync_session_class=sync_session_class)


@functools.cache
def _default_settings() -> Settings:
    return Settings()


def settings_of(session: AsyncSession) -> Settings:
    """The settings of the service this session belongs to (defaults for a bare session)."""
    return session.info.get("settings") or _default_settings()


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits on success, rolls back on any error."""
    async with sessions() as session, session.begin():
        yield session


@asynccontextmanager
async def exclusive(engine: AsyncEngine, name: str, *, wait: bool = False) -> AsyncIterator[bool]:
    """Whether this process got the cluster-wide lock `name` (a PostgreSQL advisory lock held on one
    connection until the block ends): one replica at a time runs a job or a migration. With `wait`,
    waits for it. SQLite is one process's file: always True."""
    if is_sqlite(str(engine.url)):
        yield True
        return
    key = zlib.crc32(name.encode()) - 2**31  # advisory locks take a signed bigint
    async with engine.connect() as conn:
        if wait:
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            got = True
        else:
            got = bool((await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar())
        await conn.commit()
        try:
            yield got
        finally:
            if got:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                await conn.commit()


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


# --- migrations -------------------------------------------------------------------------------


def alembic_config(location: Path, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(location))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


_migrating = asyncio.Lock()  # alembic keeps its context in module globals: one migration at a time


async def migrate(engine: AsyncEngine, location: Path, revision: str = "head") -> None:
    """Bring the schema whose migrations live at `location` to `revision` on the engine's database."""
    cfg = alembic_config(location, engine.url.render_as_string(hide_password=False))

    def _upgrade(sync_conn) -> None:  # noqa: ANN001
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, revision)

    # one migration at a time: in this process (alembic's globals), and among replicas starting together
    async with _migrating, exclusive(engine, f"migrate {location}", wait=True), engine.begin() as conn:
        await conn.run_sync(_upgrade)


# SQLSTATE classes of a database that is not there (08 connection exception, 57 operator intervention: shut
# down, starting up) and SQLite's words for a file it cannot get now; the event is not at fault.
_GONE_SQLSTATE = ("08", "57P")
_GONE_SQLITE = ("database is locked", "unable to open database file", "disk i/o error")


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database could not be reached or used just now — a refused or lost
    connection, a server shutting down or starting up, a timeout — rather than that the work was wrong. A
    consumer retries such a failure (the whole batch, later) instead of parking the event that met it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (OSError, TimeoutError, DisconnectionError)):  # ConnectionRefusedError, …
            return True
        if getattr(current, "connection_invalidated", False):
            return True
        state = str(getattr(current, "sqlstate", "") or getattr(current, "pgcode", "") or "")
        if state.startswith(_GONE_SQLSTATE):
            return True
        if type(current).__module__.startswith("asyncpg") and type(current).__name__ in {
                "ConnectionDoesNotExistError", "InterfaceError", "InternalClientError"}:
            return True
        if type(current).__name__ == "OperationalError" and any(w in str(current).lower() for w in _GONE_SQLITE):
            return True
        current = current.__cause__ or current.__context__
    return False
