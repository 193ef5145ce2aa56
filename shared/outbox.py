"""Transactional outbox: events are added to the caller's transaction, and a relay publishes them."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, any_, bindparam, Column, Index, Integer, String, Table, Text, delete, event, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, Session
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import UTCDateTime
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.bus import Bus, Record
from shared.db import core_registry, is_sqlite, make_sessionmaker, settings_of, utcnow
from shared.rows import rows_insert
from shared.events import Envelope, EventData, new_event
from shared.lane import Lane
from shared.logging import error_fields
from shared.metrics import Metrics

log = logging.getLogger(__name__)

_ID = BigInteger().with_variant(Integer, "sqlite")


outbox_table = Table(
    "outbox",
    SQLModel.metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("event_id", String(200), nullable=False, unique=True),
    Column("topic", String(200), nullable=False),
    Column("key", String(200)),
    Column("type", String(100), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
    Column("published_at", UTCDateTime(), index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Index("ix_outbox_unpublished", "id",
          postgresql_where=text("published_at IS NULL"), sqlite_where=text("published_at IS NULL")),
)


@core_registry.mapped
class OutboxRecord:
    """An event written with the state change that caused it, waiting to be published (for queries;
    `add` and `write` insert rows through Core, without an ORM object per event)."""

    __table__ = outbox_table
    id: Mapped[int]
    event_id: Mapped[str]
    topic: Mapped[str]
    key: Mapped[str | None]
    type: Mapped[str]
    payload: Mapped[str]
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    attempts: Mapped[int]
    last_error: Mapped[str | None]


def _row(envelope: Envelope, topic: str | None = None) -> dict[str, Any]:
    return {"event_id": envelope.id, "topic": topic or envelope.topic, "key": envelope.subject, "type": envelope.type,
            "payload": envelope.to_bytes().decode()}


async def write(tx: Lane, envelope: Envelope, *, along: Any = None, params: dict[str, Any] | None = None) -> None:
    """Fast lane: write an event now. `along` (a prebuilt DML statement taking `params`) runs first; on
    PostgreSQL in the same statement, as a CTE: one round trip for both. For the last statement of a
    transaction that holds a hot lock, where every round trip counts."""
    row = {f"outbox_{name}": value for name, value in _row(envelope).items()}
    row.update(outbox_created_at=utcnow(), outbox_attempts=0)
    if along is not None and tx.dialect != "postgresql":
        await tx.run(along, params)
        along = None
    await tx.run(_write_statement(along), {**row, **(params or {})})
    if _wake_relays_of not in tx.on_commit:
        tx.on_commit.append(_wake_relays_of)


_WRITES: dict[int, tuple[Any, Any]] = {}  # id(along) → (along, the statement): built once, its cache key memoized


def _write_statement(along: Any) -> Any:
    found = _WRITES.get(id(along))
    if found is None:
        columns = ("event_id", "topic", "key", "type", "payload", "created_at", "attempts")
        statement = _INSERT.values({name: bindparam(f"outbox_{name}", type_=outbox_table.c[name].type) for name in columns})
        found = _WRITES[id(along)] = (along, statement if along is None else statement.add_cte(along.cte("along")))
    return found[1]


def add(session: AsyncSession | Session, *events: Envelope, topic: str | None = None) -> None:
    """Add events to the session's transaction; never commits (the caller's commit publishes them).

    The rows are written by one multi-row Core INSERT when the transaction (or the savepoint they
    were added in) commits, or before a query of the outbox through the session, and forgotten if it
    rolls back: the same all-or-nothing as ORM rows, without building an ORM object per event on the
    hottest path of every service.
    """
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    scope = sync.get_nested_transaction() or sync.get_transaction()
    pending = sync.info.setdefault(_PENDING, [])
    for envelope in events:
        pending.append((scope, _row(envelope, topic)))
    sync.info["outbox_added"] = True


def emit(session: AsyncSession, data: EventData, subject: str | None, *, topic: str | None = None,
         source: str | None = None) -> Envelope:
    """A use case's event, added to its transaction: the envelope of `data` about `subject` (the customer id),
    from this service (`tourcrm/<service>`) unless `source` says otherwise."""
    envelope = new_event(data, source=source or f"tourcrm/{settings_of(session).service}", subject=subject)
    add(session, envelope, topic=topic)
    return envelope


_PENDING = "outbox_pending"  # session.info: [(the transaction or savepoint it was added in, row)]
_INSERT = outbox_table.insert()


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    """Write the pending rows of the innermost transaction: at its commit (a savepoint's release too), and
    before a savepoint begins (`savepoint`). Rows of enclosing transactions wait for theirs: written inside
    the savepoint, they would vanish if it rolled back. Runs inside the greenlet AsyncSession runs commits
    in, so the (sync) execute is allowed here."""
    pending = session.info.get(_PENDING)
    if not pending:
        return
    current = session.get_nested_transaction() or session.get_transaction()
    mine = [row for scope, row in pending if within(scope, current)]
    if mine:
        session.info[_PENDING] = [(scope, row) for scope, row in pending if not within(scope, current)]
        created_at = utcnow()
        connection = session.connection()
        statement, params = rows_insert(connection.dialect.name, outbox_table,
                                        [{**row, "created_at": created_at, "attempts": 0} for row in mine])
        connection.execute(statement, params)


@event.listens_for(Session, "do_orm_execute")
def _autoflush(state: Any) -> None:
    # a query of the outbox through the session sees the events added so far, as ORM autoflush would
    # (e.g. an erasure redacting the personal data of events its own transaction emitted)
    if state.session.info.get(_PENDING) and any(m.class_ is OutboxRecord for m in state.all_mappers):
        _write_pending(state.session)


@asynccontextmanager
async def savepoint(session: AsyncSession) -> AsyncIterator[Any]:
    """`session.begin_nested()` that first writes the events added so far, so they keep their place
    before the savepoint's own in the outbox (begin_nested alone keeps them all-or-nothing, not in order)."""
    await session.run_sync(_write_pending)
    async with session.begin_nested() as nested:
        yield nested


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: Any) -> None:
    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [(scope, row) for scope, row in pending
                                  if not within(scope, previous_transaction)]


def within(scope: Any, transaction: Any) -> bool:
    """Whether something noted in `scope` (a session transaction or savepoint, None: before any began) is part of
    `transaction` (e.g. the one that just rolled back)."""
    if scope is None:  # added before the session began: part of whatever root transaction follows
        return transaction.parent is None
    while scope is not None:
        if scope is transaction:
            return True
        scope = scope.parent
    return False


# After any commit that added outbox rows, wake the relays bound to that database.
_wakers: dict[str, list[asyncio.Event]] = {}


@event.listens_for(Session, "after_commit")
def _wake_relays(session: Session) -> None:
    if session.info.pop("outbox_added", False) and session.bind is not None:
        _wake_relays_of(str(session.bind.url))


def _wake_relays_of(url: str) -> None:
    for waker in _wakers.get(url, []):
        waker.set()


def wake_relays(url: str) -> None:
    """After a commit that wrote outbox rows by other means than a session or a lane (a server-side function):
    wake the relays bound to that database (`url`: its engine's)."""
    _wake_relays_of(url)


_UNPUBLISHED = (
    select(outbox_table.c.id, outbox_table.c.topic, outbox_table.c.key, outbox_table.c.type, outbox_table.c.payload)
    .where(outbox_table.c.published_at.is_(None)).order_by(outbox_table.c.id).limit(bindparam("limit"))
)
_PUBLISHED_NOW = {"published_at": bindparam("now", type_=UTCDateTime())}
_MARK_PG = (update(outbox_table).where(outbox_table.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger))))
            .values(_PUBLISHED_NOW))


class Relay:
    """Sweeps unpublished outbox rows in id order and publishes them until none is left.

    Rows are marked published in the same transaction that read them, after the bus
    acknowledged them; a crash in between publishes them again (at least once).
    On PostgreSQL an advisory lock keeps one relay per database active, which keeps
    the per-key order that the id order gives.
    """

    LOCK_ID = 0x70C2C  # pg advisory lock id of the outbox relay
    RETENTION = timedelta(days=7)
    TRIM_EVERY = 60.0  # seconds: published events past RETENTION are deleted at most this often

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        bus: Bus,
        metrics: Metrics,
        batch_size: int = 500,
        idle_seconds: float = 0.5,
        gather_seconds: float = 0.0,
        max_backoff: float = 30.0,
    ) -> None:
        self.engine = engine
        self.sessions = make_sessionmaker(engine)
        self.read_sessions = make_sessionmaker(engine, readonly=True)
        self.bus = bus
        self.metrics = metrics
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.gather_seconds = gather_seconds  # at most one sweep per this long while commits keep waking it
        self.max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._sqlite = is_sqlite(str(engine.url))
        self._trimmed_at: float | None = None  # the event loop's time of the last trim

    async def start(self) -> None:
        _wakers.setdefault(str(self.engine.url), []).append(self._wake)
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        wakers = _wakers.get(str(self.engine.url), [])
        if self._wake in wakers:
            wakers.remove(self._wake)
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        failures = 0
        sweeps = 0
        loop = asyncio.get_running_loop()
        while True:
            try:
                swept = loop.time()
                published = await self.publish_once()
                failures = 0
                sweeps += 1
                if sweeps % 100 == 1:
                    await self.observe_and_trim()
                if published >= self.batch_size:
                    continue  # more may be waiting
                self._wake.clear()
                try:
                    async with asyncio.timeout(self.idle_seconds):
                        await self._wake.wait()
                except TimeoutError:
                    await self.observe_and_trim()
                else:
                    # a wake within gather_seconds of the last sweep waits for the rest of that time: under a steady
                    # stream of commits one sweep publishes several commits' events; after a quiet spell, at once
                    await asyncio.sleep(max(0.0, swept + self.gather_seconds - loop.time()))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the relay must outlive any failure
                failures += 1
                delay = min(self.max_backoff, 0.2 * 2 ** min(failures, 10)) * (0.5 + random.random() / 2)
                log.warning("outbox relay could not publish; retrying", extra={**error_fields(exc), "retry_in": round(delay, 2)})
                self.metrics.outbox_publish_failures.inc()
                await asyncio.sleep(delay)

    async def publish_once(self) -> int:
        """Publish one batch of unpublished rows; returns how many were published."""
        if self._sqlite:
            return await self._publish_once_sqlite()
        async with self.sessions() as session, session.begin():
            # PostgreSQL: readers don't block writers, so the batch can stay in one transaction
            # that also holds the advisory lock keeping other replicas' relays out.
            locked = (await session.execute(text(f"SELECT pg_try_advisory_xact_lock({self.LOCK_ID})"))).scalar()
            if not locked:
                return 0
            rows = await self._unpublished(session)
            if rows:
                await self._publish(rows)
                await self._mark(session, rows)
            return len(rows)

    async def _publish_once_sqlite(self) -> int:
        # SQLite: never hold the write lock while waiting on the bus (one process owns the file).
        async with self.read_sessions() as session, session.begin():
            rows = await self._unpublished(session)
        if rows:
            await self._publish(rows)
            async with self.sessions() as session, session.begin():
                await self._mark(session, rows)
        return len(rows)

    async def _unpublished(self, session: AsyncSession) -> list[Any]:
        return list((await session.execute(_UNPUBLISHED, {"limit": self.batch_size})).all())

    async def _publish(self, rows: list[Any]) -> None:
        await self.bus.publish([Record(topic=r.topic, key=r.key, value=r.payload.encode(), event_type=r.type) for r in rows])
        for r in rows:
            self.metrics.events_published.labels(type=r.type).inc()

    async def _mark(self, session: AsyncSession, rows: list[Any]) -> None:
        ids, now = [r.id for r in rows], utcnow()
        if self._sqlite:
            await session.execute(update(outbox_table).where(outbox_table.c.id.in_(ids)).values(_PUBLISHED_NOW), {"now": now})
        else:  # one array parameter, not one bind per id: a 500-row batch stays one cached statement
            await session.execute(_MARK_PG, {"ids": ids, "now": now})

    async def requeue_recent(self, seconds: float) -> int:
        """Mark events published in the last `seconds` unpublished again; returns how many.

        For the in-process bus, whose log dies with the process: what was published but not yet
        consumed before a crash is published again at start (consumers' inboxes skip the rest).
        """
        async with self.sessions() as session, session.begin():
            result = await session.execute(
                update(OutboxRecord)
                .where(OutboxRecord.published_at >= utcnow() - timedelta(seconds=seconds))
                .values(published_at=None)
            )
            return result.rowcount or 0

    async def observe_and_trim(self, *, at: float | None = None) -> None:
        """Set the backlog gauges, and delete the events published more than RETENTION ago, at most once every
        TRIM_EVERY seconds of the event loop's time (`at`, default now): the delete scans the table on PostgreSQL
        (a young table has no statistics for the index to be chosen), and ran after every idle wait and 100 sweeps,
        25 times in a ten-second bench run, finding nothing (BENCHMARKS.md, "everything merged / 2026-12-03")."""
        at = asyncio.get_running_loop().time() if at is None else at
        async with self.sessions() as session, session.begin():
            count, oldest = (
                await session.execute(
                    select(func.count(), func.min(OutboxRecord.created_at)).where(OutboxRecord.published_at.is_(None))
                )
            ).one()
            self.metrics.outbox_backlog.set(count)
            self.metrics.outbox_oldest_age.set((utcnow() - oldest).total_seconds() if oldest else 0)
            if self._trimmed_at is None or at - self._trimmed_at >= self.TRIM_EVERY:
                await session.execute(
                    delete(OutboxRecord).where(OutboxRecord.published_at < utcnow() - self.RETENTION)
                )
                self._trimmed_at = at
