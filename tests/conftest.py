"""Test backends: (MemoryBus + SQLite) and (KafkaBus + PostgreSQL), the same cases on each.

PostgreSQL and Kafka are started by `make test` (scripts/postgres.sh, scripts/kafka.sh). A test
that needs them fails — never skips — when they are not there.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from shared.app import Runtime, ServiceSpec
from shared.bus import Bus, KafkaBus, MemoryBus
from shared.settings import Settings

PG_ADMIN_URL = os.environ.get("TOURCRM_TEST_PG", "postgresql://tourcrm:tourcrm@127.0.0.1:5432/postgres")
KAFKA = os.environ.get("TOURCRM_TEST_KAFKA", "127.0.0.1:9092")
REPO = Path(__file__).resolve().parent.parent


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 60, interval: float = 0.1) -> None:
    """Wait until `check()` is true; fail with the time spent otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


_reachable: dict[str, str] = {}


async def require_postgres() -> str:
    """The admin URL of the test PostgreSQL, or a test failure saying how to start it."""
    if "pg" not in _reachable:
        try:
            conn = await asyncio.wait_for(asyncpg.connect(PG_ADMIN_URL), 10)
            await conn.close()
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc!r}); start it: scripts/postgres.sh start")
        _reachable["pg"] = PG_ADMIN_URL
    return _reachable["pg"]


async def require_kafka() -> str:
    """The bootstrap servers of the test Kafka, or a test failure saying how to start it."""
    if "kafka" not in _reachable:
        bus = KafkaBus(KAFKA, timeout=10)
        try:
            if not await bus.ready():
                pytest.fail(f"Kafka is not reachable at {KAFKA}; start it: scripts/kafka.sh start")
        finally:
            await bus.stop()
        _reachable["kafka"] = KAFKA
    return _reachable["kafka"]


class Backend:
    """One storage + bus pair; makes fresh databases and buses, and stops what it started."""

    def __init__(self, name: str, tmp_path: Path, pg_admin: str | None, kafka_servers: str | None) -> None:
        self.name = name
        self.tmp_path = tmp_path
        self.pg_admin = pg_admin
        self.kafka_servers = kafka_servers
        self.prefix = f"t{uuid.uuid4().hex[:10]}."
        self.memory_bus = MemoryBus()
        self.databases: list[str] = []
        self.runtimes: list[Runtime] = []
        self.buses: list[Bus] = []

    @property
    def is_kafka(self) -> bool:
        return self.name == "kafka"

    async def database(self, name: str = "db") -> str:
        if not self.pg_admin:
            return f"sqlite+aiosqlite:///{self.tmp_path / (name + '.db')}"
        database = f"{self.prefix.rstrip('.')}_{name}".lower()
        conn = await asyncpg.connect(self.pg_admin)
        try:
            await conn.execute(f'CREATE DATABASE "{database}"')
        finally:
            await conn.close()
        self.databases.append(database)
        return self.pg_admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{database}"

    def bus(self) -> Bus:
        """A bus as another process would have it: the shared in-process one, or a new Kafka client."""
        if not self.kafka_servers:
            return self.memory_bus
        bus = KafkaBus(self.kafka_servers, prefix=self.prefix, timeout=5)
        self.buses.append(bus)
        return bus

    def settings(self, url: str, **changes: object) -> Settings:
        return Settings(
            service="sample", environment="test", database_url=url,
            kafka_bootstrap_servers=self.kafka_servers, topic_prefix=self.prefix,
            relay_idle_seconds=0.1, **changes,
        )

    async def runtime(self, spec: ServiceSpec, url: str, *, start: bool = True, **changes: object) -> Runtime:
        runtime = Runtime(spec, self.settings(url, **changes), bus=self.bus())
        if start:
            await runtime.start()
        self.runtimes.append(runtime)
        return runtime

    async def close(self) -> None:
        for runtime in reversed(self.runtimes):
            await runtime.stop()
        for bus in self.buses:
            await bus.stop()
        if self.pg_admin and self.databases:
            conn = await asyncpg.connect(self.pg_admin)
            try:
                for database in self.databases:
                    await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            finally:
                await conn.close()


@pytest.fixture(params=["memory", "kafka"], ids=["memory+sqlite", "kafka+postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "kafka":
        b = Backend("kafka", tmp_path, await require_postgres(), await require_kafka())
    else:
        b = Backend("memory", tmp_path, None, None)
    try:
        yield b
    finally:
        await b.close()
