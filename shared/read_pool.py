"""The hot reads' own pool of asyncpg connections (PostgreSQL), handed out in the order readers arrive.

asyncpg's pool gives a freed connection to whichever task asks next, not to the one that waited longest: a release
wakes the first waiter, but a task that reaches `acquire` before that waiter runs takes the connection, and the
waiter queues again at the back (asyncio.Queue.get). At 64 connections from wrk on a pool of 10, a few requests were
overtaken again and again: reads with a median of a few ms had a p99 of 94-465 ms. `read_connection` first queues
each reader on an asyncio.Semaphore sized to the pool, which wakes waiters in FIFO order and hands the woken one its
permit (a newcomer finds it taken); with no more holders than connections, a connection is always free.

The connections themselves are kept in a plain list (`Connections`), not an asyncpg Pool: with the turns above the
pool never has a waiter, and asyncpg's release ran each return in a task of its own (`asyncio.shield`) under a
timeout, and its acquire through a queue, around a proxy of the connection: ~5 % of the server's CPU in a checkout's
hold and capture (BENCHMARKS.md, "loyalty"). Here taking and returning a connection are list operations.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

READ_POOL_SIZE = 10
_READ_POOLS: weakref.WeakKeyDictionary[Any, asyncio.Future] = weakref.WeakKeyDictionary()


class Connections:
    """Up to READ_POOL_SIZE asyncpg connections (the turns bound the holders), opened when needed by `connect` and
    kept; the one used last is handed out first. A connection comes back unusable (closed, inside a transaction, or
    given back by a reader that was cancelled or timed out, perhaps mid-statement) is closed instead of kept."""

    def __init__(self, connect: Callable[[], Awaitable[Any]]) -> None:
        self._connect, self._idle, self._busy, self._closed = connect, [], set(), False

    async def acquire(self) -> Any:
        if self._closed:
            raise RuntimeError("the read pool is closed")
        while self._idle:
            driver = self._idle.pop()
            if not driver.is_closed():
                self._busy.add(driver)
                return driver
        driver = await self._connect()
        self._busy.add(driver)
        return driver

    async def release(self, driver: Any, *, broken: bool = False) -> None:
        self._busy.discard(driver)
        if broken or self._closed or driver.is_closed() or driver.is_in_transaction():
            driver.terminate()
        else:
            self._idle.append(driver)

    async def expire_connections(self) -> None:
        """Drop the kept connections (the database dropped them: a restart); the next readers open fresh ones."""
        idle, self._idle = self._idle, []
        for driver in idle:
            driver.terminate()

    async def close(self) -> None:
        """Close the kept connections; those in use are closed when they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(driver.close() for driver in idle), return_exceptions=True)

    def terminate(self) -> None:
        self._closed = True
        for driver in [*self._idle, *self._busy]:
            driver.terminate()
        self._idle, self._busy = [], set()


class ReadConnection:
    """A connection of the read pool, held in turn (`read_connection`); `driver` is the asyncpg connection."""

    def __init__(self, pool: Any, driver: Any) -> None:
        self._pool, self.driver = pool, driver

    async def renew(self) -> Any:
        """A fresh connection instead of one the database dropped (a restart): the others were lost with it, and
        each is replaced at its next acquire."""
        await self._pool.expire_connections()
        driver, self.driver = self.driver, None
        await self._pool.release(driver)
        self.driver = await self._pool.acquire()
        return self.driver


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[ReadConnection]:
    """A connection of `engine`'s read pool, outside any transaction, given to readers in their order of arrival."""
    pool, turns = await _read_pool(engine)
    async with turns:
        held = ReadConnection(pool, await pool.acquire())
        broken = True  # until the reader is done: cancelled or timed out, its statement may still be running
        try:
            yield held
            broken = False
        except Exception as exc:
            broken = isinstance(exc, TimeoutError)  # a database's error leaves the connection as it was
            raise
        finally:
            if held.driver is not None:
                await pool.release(held.driver, broken=broken)


async def _read_pool(engine: AsyncEngine) -> tuple[Connections, asyncio.Semaphore]:
    """The connections of `engine`'s hot reads and the turns to them, opened at first use and closed by
    `close_read_pool`. Checking a connection out costs a fraction of SQLAlchemy's async checkout (no greenlet
    hops, no pool events) and giving it back runs no reset query: the reads change no session state. Up to
    READ_POOL_SIZE connections, besides the engine's."""
    opening = _READ_POOLS.get(engine.sync_engine)
    if opening is not None and opening.done() and not opening.cancelled() and opening.exception() is None:
        return opening.result()
    if opening is None:
        opening = _READ_POOLS[engine.sync_engine] = asyncio.ensure_future(_open_read_pool(engine))
    try:
        return await asyncio.shield(opening)
    except Exception:
        if _READ_POOLS.get(engine.sync_engine) is opening:
            del _READ_POOLS[engine.sync_engine]  # the next read tries again
        raise


async def _open_read_pool(engine: AsyncEngine) -> tuple[Connections, asyncio.Semaphore]:
    import asyncpg

    _args, options = engine.dialect.create_connect_args(engine.url)
    options = {k: v for k, v in options.items() if k in ("host", "port", "user", "password", "database", "ssl")}
    loads = getattr(engine.dialect, "_json_deserializer", None) or json.loads

    async def json_codecs(connection: Any) -> None:  # as SQLAlchemy's dialect decodes json / jsonb on its connections
        await connection.set_type_codec("json", encoder=str.encode, decoder=lambda b: loads(b.decode()),
                                        schema="pg_catalog", format="binary")
        await connection.set_type_codec("jsonb", encoder=lambda s: b"\x01" + s.encode(),
                                        decoder=lambda b: loads(b[1:].decode()), schema="pg_catalog", format="binary")

    async def connect() -> Any:
        # Each read is prepared once per connection; PostgreSQL then plans it again for each execution (a custom
        # plan) whenever it guesses that pays, which for the 360 view's statement costs ~1.3 ms a time against
        # ~0.2 ms of execution. The hot reads look rows up by key: one generic plan suits every parameter value.
        driver = await asyncpg.connect(server_settings={"plan_cache_mode": "force_generic_plan"}, **options)
        try:
            await json_codecs(driver)
        except BaseException:
            driver.terminate()
            raise
        return driver

    pool = Connections(connect)
    return pool, asyncio.Semaphore(READ_POOL_SIZE)


async def close_read_pool(engine: AsyncEngine) -> None:
    """Close `engine`'s read pool, if it has one (with the engine: `Runtime.stop`)."""
    opening = _READ_POOLS.pop(engine.sync_engine, None)
    if opening is None:
        return
    try:
        pool, _turns = await opening
    except Exception:  # noqa: BLE001 - it never opened
        return
    try:
        await asyncio.wait_for(pool.close(), timeout=5)
    except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - a read still running, or the database gone
        pool.terminate()
